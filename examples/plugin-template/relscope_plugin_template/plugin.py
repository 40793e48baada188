"""The module the ``relscope`` entry point names: it registers the rule and the composite."""

from __future__ import annotations

from relscope.core import hookimpl
from relscope_plugin_template.composites import EpsilonPositiveInput
from relscope_plugin_template.rules import PositiveInputEpsilon


@hookimpl
def register_rules(register):
    """Make ``positive_input_epsilon`` known to relscope."""
    register("positive_input_epsilon", PositiveInputEpsilon)


@hookimpl
def register_composites(register):
    """Make ``epsilon_positive_input`` known to relscope."""
    register("epsilon_positive_input", EpsilonPositiveInput)
