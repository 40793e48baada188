"""Readers and writers of relscope's (ViRelAy-compatible) data files: inputs, attributions, projects."""
