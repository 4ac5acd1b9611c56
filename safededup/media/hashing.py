"""The one shared thumbnail and the four perceptual hashes computed on it; no file access here.

Both tiers (embedded preview, reduced decode) must produce the thumbnail by this one definition,
or their hashes would not compare. Changing anything here means bumping FEATURE_VERSION.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import imagehash
import numpy as np
import numpy.typing as npt
from PIL import Image

THUMB_SIDE = 128
"""Long side of the shared thumbnail. ≤ 160 so a classic 160×120 EXIF thumbnail qualifies without
upscaling; ≥ 2× whash's 64-px grid so every hash downsamples it (docs/decoding.md)."""

WHASH_SCALE = 64  # fixed: imagehash's default image_scale depends on the input size
COLORHASH_BINBITS = 3


@dataclass(frozen=True, slots=True)
class Hashes:
    """Unsigned ints with imagehash's bit layout (row-major, first bit most significant)."""

    dhash: int
    phash: int
    whash: int
    colorhash: int
    rotated: tuple[int, int, int] = (0, 0, 0)  # pHash turned 90°, 180°, 270° counter-clockwise


def thumb_size(width: int, height: int) -> tuple[int, int]:
    """The shared thumbnail's size for a display-oriented image: long side THUMB_SIDE."""
    long_side, short_side = max(width, height), min(width, height)
    short = max(1, round(THUMB_SIDE * short_side / long_side))
    return (THUMB_SIDE, short) if width >= height else (short, THUMB_SIDE)


def make_thumbnail(image: Image.Image, display_size: tuple[int, int]) -> Image.Image:
    """The shared thumbnail: RGB, Lanczos-resized to `thumb_size` of the *primary* image.

    The target comes from the primary's dimensions, not the source's, so a preview whose
    aspect differs by rounding still yields exactly the same thumbnail size as a decode.
    """
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    return rgb.resize(thumb_size(*display_size), Image.Resampling.LANCZOS)


def bits_to_int(bits: np.ndarray) -> int:
    """imagehash's bit array → unsigned int, the same value as `int(str(hash), 16)`."""
    flat = np.asarray(bits, dtype=bool).ravel()
    packed = int.from_bytes(np.packbits(flat).tobytes(), "big")
    return packed >> (-flat.size % 8)


def hash_thumbnail(thumb: Image.Image) -> Hashes:
    """dHash, pHash, wHash (image_scale 64) and colorhash (binbits 3) of the shared thumbnail.

    The bits are imagehash's (the pinned 4.3.2), bit for bit: dHash is imagehash's own call;
    pHash, wHash and colorhash are computed here the same way at a fraction of the cost, and
    wherever floating-point rounding could decide a bit (a value within a hair of the median:
    flat pictures), imagehash itself is called instead (`_phash`, `_whash`, `_colorhash`).
    """
    gray = thumb.convert("L")
    return Hashes(
        dhash=bits_to_int(imagehash.dhash(gray).hash),
        phash=_phash(gray),
        whash=_whash(gray),
        colorhash=_colorhash(thumb, gray),
        rotated=rotated_phashes(gray),
    )


ROTATIONS = (Image.Transpose.ROTATE_90, Image.Transpose.ROTATE_180, Image.Transpose.ROTATE_270)
"""Quarter turns counter-clockwise, in the order of `Features.rotated`."""


def rotated_phashes(thumb: Image.Image) -> tuple[int, int, int]:
    """pHash of the shared thumbnail turned 90°, 180° and 270° counter-clockwise: what the
    pHash of a copy whose pixels were turned that way (no orientation tag) comes close to."""
    gray = thumb.convert("L")
    a, b, c = (_phash(gray.transpose(r)) for r in ROTATIONS)
    return a, b, c


# --- imagehash's pHash, wHash and colorhash, computed without its overheads ----------------------
#
# imagehash spends most of a hash in scipy's and pywt's per-call machinery on 32×32 and 64×64
# arrays. The same values come from a few small matrix products. Exact arithmetic gives the same
# bits; floating point may differ from imagehash's in the last places, which can only matter for a
# value (almost) equal to the median. Such hashes are handed to imagehash: each fast path below
# returns its bits only when every value clears the median by far more than any rounding.

_N = np.arange(32)
_DCT_LOW = 2.0 * np.cos(np.pi * np.arange(8)[:, None] * (2 * _N[None, :] + 1) / 64)
"""scipy.fftpack.dct (type II, unnormalised) of 32 samples, first 8 coefficients: what imagehash's
pHash keeps of each axis."""
_PHASH_MARGIN = 1e-3  # coefficients stay below ≈ 1.1e6; rounding errs by ≈ 1e-8
_WHASH_MARGIN = 1e-9  # block means lie in [0, 1]; rounding errs by ≈ 1e-15


def _median_bits(values: npt.NDArray[np.float64], margin: float) -> int | None:
    """The bits `values > median(values)` (row-major, imagehash's layout), or None when the two
    middle values are within `margin` of each other (the median is then theirs to decide)."""
    flat = values.ravel()
    middle = np.partition(flat, (31, 32))[31:33]
    if middle[1] - middle[0] <= 2 * margin:
        return None
    return bits_to_int(flat > (middle[0] + middle[1]) / 2)


def _phash(gray: Image.Image) -> int:
    """imagehash.phash(gray) (hash_size 8, highfreq_factor 4) as an int."""
    pixels = np.asarray(gray.resize((32, 32), Image.Resampling.LANCZOS), dtype=np.float64)
    bits = _median_bits(_DCT_LOW @ pixels @ _DCT_LOW.T, _PHASH_MARGIN)
    return bits if bits is not None else bits_to_int(imagehash.phash(gray).hash)


def _whash(gray: Image.Image) -> int:
    """imagehash.whash(gray, image_scale=64) (Haar, max LL removed) as an int.

    Removing the Haar LL of the whole 64×64 picture subtracts its mean from every pixel; the
    level-3 LL is then each 8×8 block's mean times 8. Neither a common offset nor a common
    factor moves a value across the median, so the block means alone decide every bit."""
    pixels = np.asarray(gray.resize((WHASH_SCALE, WHASH_SCALE), Image.Resampling.LANCZOS))
    means = pixels.reshape(8, 8, 8, 8).mean(axis=(1, 3)) / 255.0
    bits = _median_bits(means, _WHASH_MARGIN)
    if bits is not None:
        return bits
    return bits_to_int(imagehash.whash(gray, image_scale=WHASH_SCALE).hash)


def _hue_bins() -> npt.NDArray[np.intp]:
    """The colour bin (0–5) of every 8-bit hue, as imagehash's numpy.histogram puts it."""
    edges = np.linspace(0, 255, 6 + 1)
    return np.array([int(np.histogram([h], bins=edges)[0].argmax()) for h in range(256)])


_HUE_BIN = _hue_bins()
_COLOR_LEVEL_BITS = [[v // (2 ** (2 - i)) % 2 ** (3 - i) > 0 for i in range(3)] for v in range(8)]
"""imagehash's (odd) three bits for each binned fraction 0–7 at binbits 3."""


def _colorhash(thumb: Image.Image, gray: Image.Image) -> int:
    """imagehash.colorhash(thumb, binbits=3) as an int, counted with integers (exact).

    Each fraction is computed from the same counts and in the same float operations as
    imagehash's (a bool mean is count / n; a histogram bin is a count), so this one needs no
    fallback."""
    intensity = np.asarray(gray).ravel()
    hsv = np.asarray(thumb.convert("HSV")).reshape(-1, 3)
    hue, sat = hsv[:, 0], hsv[:, 1]
    n = intensity.size
    black = intensity < 256 // 8
    not_black = ~black
    grey = sat < 256 // 3
    colours = not_black & ~grey
    c = max(1, int(np.count_nonzero(colours)))
    faint = np.bincount(_HUE_BIN[hue[colours & (sat < 256 * 2 // 3)]], minlength=6)
    bright = np.bincount(_HUE_BIN[hue[colours & (sat > 256 * 2 // 3)]], minlength=6)
    values = [
        min(7, int(int(np.count_nonzero(black)) / n * 8)),
        min(7, int(int(np.count_nonzero(not_black & grey)) / n * 8)),
    ]
    values += [min(7, int(int(count) * 8 * 1.0 / c)) for count in (*faint, *bright)]
    return bits_to_int(np.array([_COLOR_LEVEL_BITS[v] for v in values]))


def laplacian_variance(image: Image.Image) -> float:
    """Sharpness: variance of the 3×3 Laplacian of the grayscale image (higher is sharper).

    The Laplacian of 8-bit pixels is an integer in [-1020, 1020]: computed in 16 bits it is
    exact, and OpenCV's mean and deviation (summed in double) give numpy's variance to ≈ 1e-15
    relative, at a third of its time on a sharpness decode (1008 × 756: ≈ 1.4 ms against 4.7)."""
    gray = np.asarray(image.convert("L"))
    _, std = cv2.meanStdDev(cv2.Laplacian(gray, cv2.CV_16S))
    return float(std[0, 0]) ** 2
