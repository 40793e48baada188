"""Concepts (CRP) at data-set scale: top-k reference samples, heatmap regions, concepts.h5."""
