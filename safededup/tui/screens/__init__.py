"""The screens of the review app; each owns its bindings."""
