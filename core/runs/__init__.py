"""Data-set-wide runs."""
