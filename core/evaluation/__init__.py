"""Faithfulness and sanity measures of attributions: perturbation curves, areas, randomisation."""

from relscope.core.evaluation.bootstrap import bootstrap_mean_ci
from relscope.core.evaluation.completeness import completeness_error
from relscope.core.evaluation.curve_areas import abpc, aopc
from relscope.core.evaluation.perturbation import pixel_flipping
from relscope.core.evaluation.randomisation import cascading_randomisation, randomised_label

__all__ = [
    "abpc",
    "aopc",
    "bootstrap_mean_ci",
    "cascading_randomisation",
    "completeness_error",
    "pixel_flipping",
    "randomised_label",
]
