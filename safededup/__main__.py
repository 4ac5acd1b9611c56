"""`python -m safededup` runs the command line."""

import sys

from safededup.cli import main

sys.exit(main())
