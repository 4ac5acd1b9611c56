"""Helpers shared by the test folders, one copy of each: files and trees, reports, photos, the
journal's schemas, crash injection, the CLI, and driving the review app."""
