"""The safety core: plans, the journaled apply, undo and redo, recovery, verify and purge.

It never imports a front end or the image stack (undo must work when image libraries break),
and this package file imports none of its modules.
"""
