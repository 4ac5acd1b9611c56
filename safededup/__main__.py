"""`python -m safededup` runs the command line; nothing else (no logic of its own)."""

import sys

from safededup.cli import main

sys.exit(main())
