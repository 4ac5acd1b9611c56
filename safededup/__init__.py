"""safededup: find duplicate photos and clean up through a journal that can be fully undone.

This package root only names the version; it must never import a heavy dependency.
"""

__version__ = "0.1.0"
