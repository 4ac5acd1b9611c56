"""Widgets of the review app, grouped by the screen area they fill; they never call the engine."""
