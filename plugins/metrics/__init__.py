"""Faithfulness and sanity metrics (``relscope list metrics``)."""
