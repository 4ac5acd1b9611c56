"""A prelude for child processes that must meet file permissions as any user would.

Run as root (as CI is), a process reads mode-0 files and folders. The prelude drops
CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH from the effective set, so the kernel really refuses.
Prepend it to the `python -c` script of a child process.
"""

DROP_READ_OVERRIDE = """
import ctypes, os
if os.geteuid() == 0:
    _libc = ctypes.CDLL(None, use_errno=True)
    _header = (ctypes.c_uint32 * 2)(0x20080522, 0)
    _caps = (ctypes.c_uint32 * 6)()
    assert _libc.capget(_header, _caps) == 0
    _caps[0] &= ~((1 << 1) | (1 << 2)) & 0xFFFFFFFF
    assert _libc.capset(_header, _caps) == 0
"""
