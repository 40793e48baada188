"""The ``relscope`` command line: core commands plus those that plugins add."""
