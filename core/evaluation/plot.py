"""The evaluation PNG: MoRF and LeRF curves of every method with their bootstrap 95 % bands."""

from __future__ import annotations

import os
from typing import Any

from relscope.core.data.atomic import atomic_path
from relscope.core.errors import EvaluationError


def check_plotting() -> None:
    """Fail early (one line) when matplotlib is not installed."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        raise EvaluationError("--plot needs matplotlib: pip install 'relscope[plot]'") from None


def plot_curves(document: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Draw each method's mean MoRF (left) and LeRF (right) curve with its band into ``path``."""
    check_plotting()
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    step = document["config"]["settings"]["step"]
    figure, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True, constrained_layout=True)
    for name, method in document["methods"].items():
        curves = method["metrics"].get("pixel_flipping")
        if curves is None:
            continue
        for axis, order in zip(axes, ("morf", "lerf")):
            curve = curves[order]
            x = [k * step for k in range(len(curve["mean"]))]
            (line,) = axis.plot(x, curve["mean"], label=name, linewidth=1.6)
            axis.fill_between(
                x, curve["ci_low"], curve["ci_high"], color=line.get_color(), alpha=0.2
            )
    for axis, title in zip(axes, ("MoRF: most relevant first", "LeRF: least relevant first")):
        axis.set_title(title)
        axis.set_xlabel("positions perturbed")
        axis.grid(alpha=0.3)
    axes[0].set_ylabel("target output (mean, 95 % band)")
    axes[1].legend(loc="best", fontsize="small")
    with atomic_path(path) as temp:
        figure.savefig(temp, format="png", dpi=110)
    plt.close(figure)
