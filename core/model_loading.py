"""Load a model from a short specification, for the CLI: ``torchvision:<name>`` (random weights
unless a state dict is given), ``package.module:factory``, ``hf:<saved from_pretrained folder>``,
or a TorchScript file; ``--weights`` loads a state dict. Nothing is downloaded."""

from __future__ import annotations

import contextlib
import difflib
import importlib
import os
import warnings
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import attrs

from relscope.core.errors import ModelLoadError

#: ImageNet input normalisation of torchvision classifiers
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@attrs.frozen
class LoadedModel:
    """A loaded model (eval mode) with the input normalisation it expects (None: unknown)."""

    model: Any
    spec: str
    mean: tuple[float, ...] | None = None
    std: tuple[float, ...] | None = None
    torchscript: bool = False


def _torchvision_model(name: str) -> Any:
    import torchvision

    known = torchvision.models.list_models()
    if name not in known:
        close = difflib.get_close_matches(name, known, n=5)
        hint = f"; did you mean {', '.join(close)}?" if close else ""
        raise ModelLoadError(f"torchvision has no model {name!r}{hint}")
    try:
        return torchvision.models.get_model(name, weights=None)
    except Exception as exc:  # a model that cannot be built without extra arguments
        raise ModelLoadError(f"torchvision:{name}: cannot be built ({exc})") from None


def _factory_model(spec: str) -> Any:
    module_name, _, attribute = spec.partition(":")
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:  # ImportError, or the module failing while it is imported
        raise ModelLoadError(
            f"model {spec!r}: cannot import module {module_name!r} ({exc})"
        ) from None
    target: Any = module
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise ModelLoadError(
                f"model {spec!r}: {module_name} has no attribute {attribute!r}"
            ) from None
    import torch

    if isinstance(target, torch.nn.Module):
        return target
    if not callable(target):
        raise ModelLoadError(f"model {spec!r}: {attribute} is neither a module nor a factory")
    try:
        model = target()
    except TypeError as exc:
        raise ModelLoadError(
            f"model {spec!r}: the factory must be callable without arguments ({exc})"
        ) from None
    except Exception as exc:  # the factory's own failure, reported in one line
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelLoadError(
            f"model {spec!r}: the factory raised {type(exc).__name__}: {reason}"
        ) from None
    if not isinstance(model, torch.nn.Module):
        raise ModelLoadError(
            f"model {spec!r}: the factory returned {type(model).__name__}, expected a torch.nn.Module"
        )
    return model


def _torchscript_model(path: Path) -> Any:
    import torch

    try:
        with warnings.catch_warnings():  # TorchScript loading is deprecated but still supported
            warnings.simplefilter("ignore", FutureWarning)
            return torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:
        raise ModelLoadError(
            f"{path}: not a TorchScript file ({type(exc).__name__}); give torchvision:<name> or "
            "package.module:factory with --weights for a state dict"
        ) from None


def read_state_dict(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A state dict from ``path`` (also one nested under ``state_dict`` or ``model``)."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ModelLoadError(f"--weights {path}: no such file")
    try:
        state = torch.load(str(path), map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ModelLoadError(f"--weights {path}: cannot be read as a state dict ({exc})") from None
    for key in ("state_dict", "model"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(k, str) for k in state):
        raise ModelLoadError(f"--weights {path}: expected a state dict (parameter name -> tensor)")
    return state


def load_weights(model: Any, path: str | os.PathLike[str]) -> None:
    """Load the state dict at ``path`` into ``model`` strictly (names and shapes must match)."""
    state = read_state_dict(path)
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    wrong = [
        k
        for k in own
        if k in state and tuple(getattr(state[k], "shape", ())) != tuple(own[k].shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"missing {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''}")
        if unexpected:
            parts.append(
                f"unexpected {', '.join(unexpected[:3])}{' ...' if len(unexpected) > 3 else ''}"
            )
        if wrong:
            parts.append(f"shape mismatch for {', '.join(wrong[:3])}")
        raise ModelLoadError(f"--weights {path}: does not fit the model ({'; '.join(parts)})")
    model.load_state_dict(state, strict=True)


def _floats(values: Sequence[float] | None, what: str) -> tuple[float, ...] | None:
    if values is None:
        return None
    try:
        result = tuple(float(v) for v in values)
    except (TypeError, ValueError):
        raise ModelLoadError(f"--{what}: expected numbers, got {values!r}") from None
    if not result:
        raise ModelLoadError(f"--{what}: expected at least one number")
    return result


def load_model_spec(
    spec: str,
    weights: str | os.PathLike[str] | None = None,
    random_weights: bool = True,
    mean: Sequence[float] | None = None,
    std: Sequence[float] | None = None,
    seed: int | None = None,
) -> LoadedModel:
    """Load ``spec`` in eval mode. ``random_weights=False`` refuses a torchvision model without
    ``weights`` (nothing is ever downloaded). torchvision models default to ImageNet mean/std;
    without ``mean``/``std`` a model's ``input_mean``/``input_std`` attributes are used.
    ``seed`` seeds torch while the model is built, so random weights are the same every run
    (and a run with them can be resumed); torch's global generator is left as it was."""
    with _seeded(seed):
        return _load_model_spec(spec, weights, random_weights, mean, std)


@contextlib.contextmanager
def _seeded(seed: int | None) -> Iterator[None]:
    if seed is None:
        yield
        return
    import torch

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield


def _load_model_spec(
    spec: str,
    weights: str | os.PathLike[str] | None,
    random_weights: bool,
    mean: Sequence[float] | None,
    std: Sequence[float] | None,
) -> LoadedModel:
    if not isinstance(spec, str) or not spec:
        raise ModelLoadError(
            "a model specification is needed: torchvision:<name>, pkg.mod:factory or a file"
        )
    mean_t, std_t = _floats(mean, "mean"), _floats(std, "std")
    if std_t is not None and any(s <= 0 for s in std_t):
        raise ModelLoadError(f"--std: every value must be > 0, got {std_t}")
    torchscript = False
    if spec.startswith("torchvision:"):
        model = _torchvision_model(spec.split(":", 1)[1])
        if weights is None and not random_weights:
            raise ModelLoadError(
                f"{spec}: no weights are downloaded; pass --weights FILE (a state dict) or allow "
                "random weights"
            )
        if mean_t is None and std_t is None:
            mean_t, std_t = IMAGENET_MEAN, IMAGENET_STD
    elif spec.startswith("hf:"):
        from relscope.core.hf_loading import load_hf_folder

        model, preprocessing = load_hf_folder(spec.split(":", 1)[1])
        if mean_t is None and std_t is None and "image_mean" in preprocessing:
            mean_t = _floats(preprocessing.get("image_mean"), "mean (preprocessor_config.json)")
            std_t = _floats(preprocessing.get("image_std"), "std (preprocessor_config.json)")
    elif Path(spec).is_file():
        model = _torchscript_model(Path(spec))
        torchscript = True
    elif ":" in spec and not spec.startswith(("/", ".")):
        model = _factory_model(spec)
    else:
        raise ModelLoadError(
            f"model {spec!r}: expected torchvision:<name>, package.module:factory, hf:<folder>, or "
            "an existing TorchScript file"
        )
    if weights is not None:
        load_weights(model, weights)
    if mean_t is None and std_t is None:  # a factory's model may carry its own normalisation
        mean_t = _floats(getattr(model, "input_mean", None), "mean (model.input_mean)")
        std_t = _floats(getattr(model, "input_std", None), "std (model.input_std)")
    model.eval()
    return LoadedModel(model=model, spec=spec, mean=mean_t, std=std_t, torchscript=torchscript)


def load_model(spec: str, weights: str | os.PathLike[str] | None = None) -> Any:
    """Just the model of :func:`load_model_spec` (random weights allowed)."""
    return load_model_spec(spec, weights=weights).model


def guess_input_shape(model: Any) -> tuple[int, ...] | None:
    """A plausible per-sample input shape from the first linear layer (None when unknown):
    (C, 224, 224) for Conv2d, (C, 64) for Conv1d, (C, 16, 64, 64) for Conv3d, (F,) for Linear."""
    from torch import nn

    for module in model.modules():
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
            return (module.in_channels, 224, 224)
        if isinstance(module, nn.Conv1d | nn.ConvTranspose1d):
            return (module.in_channels, 64)
        if isinstance(module, nn.Conv3d | nn.ConvTranspose3d):
            return (module.in_channels, 16, 64, 64)
        if isinstance(module, nn.Linear):
            return (module.in_features,)
    return None


def grey_repeat_channels(model: Any, image_channels: int) -> int | None:
    """How many channels grey images must be repeated to for ``model`` (its first convolution
    takes 3, the images have 1), or None when they fit as they are."""
    shape = guess_input_shape(model)
    if image_channels != 1 or shape is None or len(shape) != 3 or shape[0] == 1:
        return None
    return int(shape[0])
