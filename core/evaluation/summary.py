"""The evaluation file's numbers: per metric value, the mean over samples with its bootstrap 95 %
interval and every sample's value; differences of paired scores against the random baseline."""

from __future__ import annotations

from typing import Any

import numpy as np

from relscope.core.evaluation.bootstrap import bootstrap_mean_ci

#: significant digits kept in the JSON file
DIGITS = 7


def _rounded(values: np.ndarray) -> Any:
    """Nested lists of floats with :data:`DIGITS` significant digits (NaN as None)."""
    flat = [None if not np.isfinite(v) else float(f"{v:.{DIGITS}g}") for v in values.ravel()]
    return np.asarray(flat, dtype=object).reshape(values.shape).tolist()


def describe_values(values: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Mean over samples, its bootstrap 95 % interval, and the per-sample values."""
    mean, low, high = bootstrap_mean_ci(values, seed=seed)
    return {
        "mean": _rounded(np.asarray(mean)),
        "ci_low": _rounded(np.asarray(low)),
        "ci_high": _rounded(np.asarray(high)),
        "per_sample": _rounded(values),
    }


def compare_scores(first: np.ndarray, second: np.ndarray, seed: int = 0) -> dict[str, Any]:
    """Mean paired difference ``first - second`` with its bootstrap 95 % interval."""
    mean, low, high = bootstrap_mean_ci(first - second, seed=seed)
    return {
        "difference": float(mean),
        "ci_low": float(low),
        "ci_high": float(high),
        "excludes_zero": bool(low > 0 or high < 0),
    }


def summarise(
    results: dict[str, dict[str, dict[str, Any]]], seed: int = 0, reference: str = "random"
) -> tuple[dict[str, Any], dict[str, Any]]:
    """``results[method][metric][key]`` (arrays or JSON values) -> (methods, comparisons): every
    array described, and each method's per-sample scores (1-D values) compared with
    ``reference`` when it was evaluated."""
    methods: dict[str, Any] = {}
    for method, metrics in results.items():
        methods[method] = {
            metric: {
                key: describe_values(value, seed) if isinstance(value, np.ndarray) else value
                for key, value in values.items()
            }
            for metric, values in metrics.items()
        }
    comparisons: dict[str, Any] = {}
    if reference in results:
        for method, metrics in results.items():
            if method == reference:
                continue
            pairs = {}
            for metric, values in metrics.items():
                for key, value in values.items():
                    other = results[reference].get(metric, {}).get(key)
                    if isinstance(value, np.ndarray) and value.ndim == 1 and other is not None:
                        pairs[key] = compare_scores(value, other, seed)
            comparisons[f"{method} - {reference}"] = pairs
    return methods, comparisons
