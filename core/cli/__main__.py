"""``python -m relscope.core.cli`` runs the CLI (tests use it with the venv's interpreter)."""

from relscope.core.cli.main import console_main

console_main()
