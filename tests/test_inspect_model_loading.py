"""core/model_loading.py: torchvision names, factories, TorchScript files and state dicts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from relscope.core.cli.main import main
from relscope.core.errors import ModelLoadError
from relscope.core.model_loading import (
    IMAGENET_MEAN,
    guess_input_shape,
    load_model,
    load_model_spec,
)

USER_MODELS = """
import torch
from torch import nn


def small():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


INSTANCE = nn.Linear(2, 2)
NOT_A_MODEL = 3


def returns_text():
    return "model"
"""


@pytest.fixture
def user_models(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "loadmodels.py").write_text(USER_MODELS)
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_torchvision_model_has_random_weights_eval_mode_and_imagenet_normalisation() -> None:
    torch.manual_seed(0)
    first = load_model_spec("torchvision:resnet18")
    torch.manual_seed(1)
    second = load_model("torchvision:resnet18")
    assert not first.model.training and first.mean == IMAGENET_MEAN and not first.torchscript
    assert not torch.equal(first.model.conv1.weight, second.conv1.weight)
    assert guess_input_shape(first.model) == (3, 224, 224)
    with pytest.raises(ModelLoadError, match="no weights are downloaded"):
        load_model_spec("torchvision:resnet18", random_weights=False)


def test_factory_instances_and_their_errors(user_models: Path) -> None:
    loaded = load_model_spec("loadmodels:small", mean=[0.5], std=[0.25])
    assert isinstance(loaded.model, nn.Sequential) and loaded.mean == (0.5,)
    assert guess_input_shape(loaded.model) == (4,)
    import loadmodels

    assert load_model("loadmodels:INSTANCE") is loadmodels.INSTANCE
    with pytest.raises(ModelLoadError, match="neither a module nor a factory"):
        load_model("loadmodels:NOT_A_MODEL")
    with pytest.raises(ModelLoadError, match="returned str, expected a torch.nn.Module"):
        load_model("loadmodels:returns_text")
    with pytest.raises(ModelLoadError, match="cannot import module 'no_such_module_here'"):
        load_model("no_such_module_here:f")
    with pytest.raises(ModelLoadError, match="expected torchvision:<name>"):
        load_model("just-a-name")
    with pytest.raises(ModelLoadError, match="--std: every value must be > 0"):
        load_model_spec("loadmodels:small", std=[0.0])


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_file_round_trip(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    torch.manual_seed(2)
    model = nn.Sequential(nn.Linear(4, 3), nn.ReLU()).eval()
    path = tmp_path / "model.pt"
    torch.jit.trace(model, torch.randn(1, 4)).save(str(path))
    loaded = load_model_spec(str(path))
    assert loaded.torchscript
    x = torch.randn(5, 4)
    assert torch.equal(loaded.model(x), model(x))
    # rules attach to Python layers: inspect refuses a TorchScript model clearly
    assert main(["inspect", str(path), "--composite", "epsilon_plus"]) == 2
    assert "a TorchScript model cannot be inspected" in capsys.readouterr().err
    text = tmp_path / "not-a-model.pt"
    text.write_text("hello")
    with pytest.raises(ModelLoadError, match="not a TorchScript file"):
        load_model_spec(str(text))


def test_weights_round_trip_and_mismatches(user_models: Path, tmp_path: Path) -> None:
    torch.manual_seed(3)
    source = load_model("loadmodels:small")
    plain, nested = tmp_path / "plain.pt", tmp_path / "nested.pt"
    torch.save(source.state_dict(), plain)
    torch.save({"state_dict": source.state_dict(), "epoch": 3}, nested)
    x = torch.randn(6, 4)
    for path in (plain, nested):
        torch.manual_seed(4)
        loaded = load_model("loadmodels:small", weights=path)
        assert torch.equal(loaded(x), source(x))
    other = tmp_path / "other.pt"
    torch.save(nn.Linear(4, 3).state_dict(), other)
    with pytest.raises(ModelLoadError, match=r"does not fit the model \(missing 0.weight"):
        load_model("loadmodels:small", weights=other)
    with pytest.raises(ModelLoadError, match="no such file"):
        load_model("loadmodels:small", weights=tmp_path / "missing.pt")
    junk = tmp_path / "junk.pt"
    torch.save([1, 2, 3], junk)
    with pytest.raises(ModelLoadError, match="expected a state dict"):
        load_model("loadmodels:small", weights=junk)


def test_inspect_uses_the_weights(user_models: Path, tmp_path: Path, capsys) -> None:
    model = load_model("loadmodels:small")
    with torch.no_grad():
        model[0].weight.zero_()  # all relevance vanishes at the first layer
        model[0].bias.fill_(1.0)
    path = tmp_path / "weights.pt"
    torch.save(model.state_dict(), path)
    args = ["inspect", "loadmodels:small", "--composite", "epsilon_plus", "--relevance-sums"]
    assert main([*args, "--weights", str(path)]) == 0
    out = capsys.readouterr().out
    assert "relevance sum at the input: 0 " in out
    assert main(args) == 0
    assert "relevance sum at the input: 0 " not in capsys.readouterr().out
