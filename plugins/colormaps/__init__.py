"""Built-in colour maps (registered through ``register_colormaps``)."""
