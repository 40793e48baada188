"""The built-in demo: a Clever-Hans digits data set, a small CNN, and the end-to-end ``relscope demo``."""
