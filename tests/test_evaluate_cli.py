"""``relscope evaluate`` end to end: real files in, a JSON whose curves equal the engine's on the
same samples, a PNG; bad input is one line, exit 2, and no output."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np
import pytest
import torch

from relscope.core.data.attributions import write_attributions
from relscope.core.evaluation import aopc, pixel_flipping
from relscope.plugins.demo.digits import write_digits
from relscope.plugins.demo.model import small_cnn
from tests.conftest import run_relscope

MODEL = "relscope.plugins.demo.model:small_cnn"
SAMPLES = 12


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("evaluate")
    torch.manual_seed(0)
    model = small_cnn().eval()
    torch.save(model.state_dict(), folder / "model.pt")
    data = write_digits(folder / "digits.h5")
    with h5py.File(data, "r") as file:
        images = torch.from_numpy(file["data"][:SAMPLES].astype(np.float32) / 255.0)
        labels = file["label"][:SAMPLES]
    attribution = torch.randn(images.shape, generator=torch.Generator().manual_seed(2)).numpy()
    with torch.no_grad():
        prediction = model(images).numpy()
    write_attributions(folder / "attr.h5", attribution, prediction, labels)
    write_attributions(folder / "small.h5", attribution[:, :, :16, :16], prediction, labels)
    return {"folder": folder, "model": folder / "model.pt", "data": data}


def _evaluate(files: dict[str, Path], *extra: str, attribution: str = "attr.h5"):
    folder = files["folder"]
    return run_relscope(
        "evaluate", str(folder / attribution),
        "--model", MODEL, "--weights", str(files["model"]), "--data", str(files["data"]),
        "--limit", str(SAMPLES), "--workers", "0", "--batch-size", "5", "--quiet", *extra,
    )  # fmt: skip


def test_the_file_holds_the_engines_curves_and_scores(files: dict[str, Path]) -> None:
    folder = files["folder"]
    out, png = folder / "evaluation.json", folder / "evaluation.png"
    result = _evaluate(
        files, "--step", "64", "--region", "2", "--baseline", "mean", "--baselines", "random",
        "--out", str(out), "--plot", str(png),
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    document = json.loads(out.read_text())
    assert document["indices"] == list(range(SAMPLES))
    assert set(document["methods"]) == {"attr", "random"}
    # the same computation in process: the model, the samples, the stored attributions
    model = small_cnn()
    model.load_state_dict(torch.load(files["model"]))
    with h5py.File(files["data"], "r") as file:
        images = torch.from_numpy(file["data"][:SAMPLES].astype(np.float32) / 255.0)
        labels = torch.from_numpy(file["label"][:SAMPLES]).long()
    with h5py.File(folder / "attr.h5", "r") as file:
        stored = torch.from_numpy(file["attribution"][:])
    metrics = document["methods"]["attr"]["metrics"]
    for order in ("morf", "lerf"):
        expected = pixel_flipping(
            model.eval(), images, stored, labels, step=64, baseline="mean", order=order, region=2
        )
        curves = np.asarray(metrics["pixel_flipping"][order]["per_sample"])
        assert curves.shape == (SAMPLES, 5)  # 256 regions of 2x2, 64 per step
        np.testing.assert_allclose(curves, expected.numpy(), rtol=1e-5, atol=1e-5)
        band = metrics["pixel_flipping"][order]
        assert np.all(np.asarray(band["ci_low"]) <= np.asarray(band["mean"]) + 1e-9)
        assert np.all(np.asarray(band["mean"]) <= np.asarray(band["ci_high"]) + 1e-9)
    morf = torch.from_numpy(np.asarray(metrics["pixel_flipping"]["morf"]["per_sample"]))
    np.testing.assert_allclose(metrics["aopc"]["aopc"]["per_sample"], aopc(morf), atol=1e-6)
    assert "attr - random" in document["comparisons"]
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert "attr" in result.stdout and "aopc" in result.stdout


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (("--step", "0"), "step must be a positive integer"),
        (("--step", "2000"), "step 2000 is larger than the 1024 positions"),
        (("--target", "10"), "--target 10 is outside the model's 10 outputs"),
        (("--metric", "pixel_flipping,nonsense"), "unknown metric 'nonsense'"),
        (("--baseline", "zeros"), "unknown baseline 'zeros'"),
        (("--baselines", "smooth"), "unknown baseline method 'smooth'"),
        (("--metric", "sanity"), "records no relscope configuration"),
        ((), "is 16x16 but the data sample is 32x32"),
    ],
)
def test_bad_input_is_one_line_exit_2_and_no_output(
    files: dict[str, Path], extra: tuple[str, ...], message: str
) -> None:
    out = files["folder"] / "bad.json"
    attribution = "small.h5" if not extra else "attr.h5"
    result = _evaluate(files, *extra, "--out", str(out), attribution=attribution)
    assert result.returncode == 2, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists() and not out.with_name("bad.json.partial").exists()
