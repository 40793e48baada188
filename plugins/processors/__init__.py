"""Analysis processors, one module per family, each its own plugin entry point."""
