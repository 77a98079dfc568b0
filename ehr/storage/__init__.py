"""The generic resource store and the single write path."""
