"""Built-in CLI sub-commands, one plugin module each (registered through ``register_commands``)."""
