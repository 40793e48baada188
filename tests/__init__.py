"""relscope test suite."""
