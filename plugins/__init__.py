"""Built-in relscope plugins; each module is discovered through its own entry point."""
