"""Hugging Face models from a saved ``from_pretrained`` folder (``--model hf:<folder>``), never
from the hub, wrapped so that ``model(x)`` returns one logits tensor.

``transformers`` is imported only inside these functions (a plain install never imports it). An
image model (its config has ``num_channels``) takes ``pixel_values``; any other model takes input
*embeddings* ``(batch, tokens, hidden)`` — the form AttnLRP attributes — and returns the logits of a
sequence classifier, or the last position's logits of a language model.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from relscope.core.errors import ModelLoadError


class HFLogits(nn.Module):
    """``forward(x)`` → the wrapped model's logits for ``pixel_values=x`` or ``inputs_embeds=x``
    (``last_position``: only the last position's logits, for language models)."""

    def __init__(self, model: nn.Module, input_key: str, last_position: bool) -> None:
        super().__init__()
        self.model = model
        self.input_key = input_key
        self.last_position = last_position

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        logits = self.model(**{self.input_key: x}).logits
        return logits[:, -1] if self.last_position else logits


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def load_hf_folder(folder: str | Path) -> tuple[HFLogits, dict[str, Any]]:
    """The model saved in ``folder`` (eval mode, wrapped) and its preprocessor settings (may be
    empty). One-line :class:`ModelLoadError` for a missing folder or ``config.json``, a missing
    ``transformers``, or weights that do not fit the config."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"hf:{folder}: no such folder (a saved from_pretrained folder)")
    if not (folder / "config.json").is_file():
        raise ModelLoadError(f"hf:{folder}: no config.json (save the model with save_pretrained)")
    try:
        import transformers
    except ImportError:
        raise ModelLoadError(
            "hf: models need the transformers package: pip install 'relscope[transformers]'"
        ) from None
    try:
        config = transformers.AutoConfig.from_pretrained(str(folder), local_files_only=True)
    except Exception as exc:
        raise ModelLoadError(f"hf:{folder}/config.json: not readable ({_one_line(exc)})") from None
    architectures = list(getattr(config, "architectures", None) or [])
    if not architectures or not hasattr(transformers, architectures[0]):
        raise ModelLoadError(
            f"hf:{folder}/config.json: field 'architectures' must name a transformers model class, "
            f"got {architectures!r}"
        )
    model_cls = getattr(transformers, architectures[0])
    hf_logging = transformers.utils.logging
    verbosity, bars = hf_logging.get_verbosity(), hf_logging.is_progress_bar_enabled()
    hf_logging.set_verbosity_error()  # the load report: our one-line error instead
    hf_logging.disable_progress_bar()
    try:
        model, info = model_cls.from_pretrained(
            str(folder),
            local_files_only=True,
            output_loading_info=True,
            ignore_mismatched_sizes=True,  # reported below, naming the tensors
        )
    except Exception as exc:
        raise ModelLoadError(
            f"hf:{folder}: the weights do not fit config.json ({_one_line(exc)})"
        ) from None
    finally:
        hf_logging.set_verbosity(verbosity)
        if bars:
            hf_logging.enable_progress_bar()
    problems = [
        f"{what} {', '.join(map(str, keys[:3]))}{' ...' if len(keys) > 3 else ''}"
        for what, keys in (
            ("missing", list(info.get("missing_keys") or [])),
            ("unexpected", list(info.get("unexpected_keys") or [])),
            (
                "mismatched",
                [k[0] if isinstance(k, tuple) else k for k in info.get("mismatched_keys") or []],
            ),
        )
        if keys
    ]
    if problems:
        raise ModelLoadError(
            f"hf:{folder}: the weights do not fit config.json ({'; '.join(problems)})"
        )
    model.eval()
    image = hasattr(config, "num_channels") and "ImageClassification" in architectures[0]
    wrapped = HFLogits(
        model,
        "pixel_values" if image else "inputs_embeds",
        last_position=not image and architectures[0].endswith("ForCausalLM"),
    )
    preprocessing: dict[str, Any] = {}
    processor = folder / "preprocessor_config.json"
    if processor.is_file():
        try:
            preprocessing = json.loads(processor.read_text())
        except (OSError, ValueError) as exc:
            raise ModelLoadError(f"{processor}: not valid JSON ({_one_line(exc)})") from None
    return wrapped, preprocessing
