"""``relscope inspect``: one line per leaf layer with its rule, warnings, relevance sums, errors."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import pytest

from relscope.core.cli.main import main
from tests.conftest import run_relscope

USER_MODELS = """
import torch
from torch import nn


def bias_free():
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1, bias=False), nn.ReLU(inplace=True),
        nn.Conv2d(8, 8, 3, stride=2, padding=1, bias=False), nn.ReLU(),
        nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(32, 16, bias=False), nn.ReLU(),
        nn.Linear(16, 4, bias=False),
    )


def with_layer_norm():
    return nn.Sequential(
        nn.Conv2d(3, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 8), nn.LayerNorm(8),
        nn.Linear(8, 2),
    )
"""

CONV_ONLY_PLUGIN = '''
from relscope.core import hookimpl
from relscope.core.attribution import Convolution, LayerMapComposite


class ConvOnly(LayerMapComposite):
    """z-plus on convolutions only (a user's composite)."""

    def __init__(self):
        super().__init__([(Convolution, "zplus")])


@hookimpl
def register_composites(register):
    register("conv_only", ConvOnly)
'''


@pytest.fixture
def user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A user's model module, importable as ``usermodels`` (as after ``pip install``)."""
    (tmp_path / "usermodels.py").write_text(USER_MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def rows(text: str) -> dict[str, tuple[str, str]]:
    """layer name -> (type, rule) from the printed table."""
    table = {}
    for line in text.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) >= 3 and parts[1][:1].isupper() and not line.startswith("model "):
            table[parts[0]] = (parts[1], parts[2])
    return table


def test_alexnet_with_epsilon_gamma_box(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        ["inspect", "torchvision:alexnet", "--composite", "epsilon_gamma_box", "--param",
         "low=-3", "--param", "high=3", "--input-shape", "3,64,64"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    table = rows(out)
    assert len(table) == 21
    assert table["features.0"] == ("Conv2d", "zbox(low=-3, high=3)")
    assert table["features.3"] == ("Conv2d", "gamma(gamma=0.25)")
    assert table["features.1"] == ("ReLU", "pass")
    assert table["features.2"] == ("MaxPool2d", "gradient")
    assert table["avgpool"][1].startswith("norm")
    assert table["classifier.1"][0] == "Linear" and table["classifier.1"][1].startswith("epsilon")
    assert table["classifier.0"] == ("Dropout", "gradient")
    assert "warning" not in out


def test_relevance_sums_show_conservation(user_models: Path, capsys) -> None:
    code = main(
        ["inspect", "usermodels:bias_free", "--composite", "epsilon_plus", "--input-shape",
         "3,8,8", "--relevance-sums"]
    )  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0
    total = float(re.search(r"relevance sum at the input: (\S+)", out).group(1))
    assert abs(total - 1.0) < 1e-3
    sums = {}
    for line in out.splitlines():
        parts = re.split(r"\s{2,}", line.strip())
        if len(parts) == 4 and parts[0].isdigit():
            sums[parts[0]] = float(parts[3])
    assert abs(sums["8"] - 1.0) < 1e-6  # the output layer gets the one-hot relevance
    for name in ("0", "2", "6"):
        assert abs(sums[name] - 1.0) < 1e-3, name


def test_uncovered_layers_are_warned_about(user_models: Path, tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    plugins.mkdir()
    (plugins / "conv_only.py").write_text(textwrap.dedent(CONV_ONLY_PLUGIN))
    result = run_relscope(
        "inspect", "usermodels:with_layer_norm", "--composite", "conv_only", "--input-shape",
        "3,8,8",
        env={"RELSCOPE_PLUGINS_DIR": str(plugins), "PYTHONPATH": str(user_models)},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    table = rows(result.stdout)
    assert table["0"] == ("Conv2d", "zplus(Stabilizer(1e-06))")
    assert table["3"] == ("Linear", "gradient")
    assert "warning: linear layer '3' (Linear) gets no rule" in result.stdout
    assert "warning: linear layer '5' (Linear) gets no rule" in result.stdout
    assert "warning: layer '4' (LayerNorm) gets no rule" in result.stdout
    assert "'1'" not in result.stdout.split("warning", 1)[1]  # ReLU keeping its gradient is fine


@pytest.mark.parametrize(
    "args, message",
    [
        (
            ["torchvision:alexnet", "--composite", "epsilon_pluss"],
            "unknown composite 'epsilon_pluss'",
        ),
        (
            ["torchvision:alexnet", "--composite", "epsilon_gamma_box"],
            "zbox needs the input bounds",
        ),
        (["torchvision:alexnett", "--composite", "epsilon_plus"], "did you mean alexnet"),
        (["usermodels:nothing", "--composite", "epsilon_plus"], "has no attribute 'nothing'"),
        (
            ["torchvision:alexnet", "--composite", "epsilon_plus", "--param", "bogus=1"],
            "unexpected keyword argument 'bogus'",
        ),
        (
            ["torchvision:alexnet", "--composite", "epsilon_plus", "--input-shape", "3,2,2"],
            "pass --input-shape",
        ),
    ],
    ids=["composite", "bounds", "model", "factory", "param", "shape"],
)
def test_bad_use_is_one_line_and_exit_2(user_models, capsys, args, message) -> None:
    assert main(["inspect", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("relscope: error: ") and message in err
    assert len(err.strip().splitlines()) == 1
