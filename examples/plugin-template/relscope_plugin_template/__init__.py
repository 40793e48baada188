"""A template relscope plugin: one LRP rule and one composite that uses it."""
