"""Viewer plugins: the explorer app (``explorer/``) and one package per explorer panel."""
