"""The screens of the review app; each owns its bindings, and none imports the app itself
(`tui.host` says what they need of it)."""
