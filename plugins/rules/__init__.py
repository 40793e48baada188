"""Built-in LRP rules and composites (each module is a plugin with its own entry point)."""
