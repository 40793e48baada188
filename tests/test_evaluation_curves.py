"""Perturbation curves equal a step-by-step replica written here from the definition (float64)."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from relscope.core.errors import EvaluationError
from relscope.core.evaluation import abpc, aopc, pixel_flipping
from relscope.core.evaluation.gaussian import gaussian_filter


def image_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.Flatten(), nn.Linear(4 * 7 * 6, 5)
    ).double()


class TokenModel(nn.Module):
    """Embeds ids (N, T) or takes embeddings (N, T, D); a mean-pooled linear head."""

    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(1)
        self.embed = nn.Embedding(20, 6).double()
        self.head = nn.Linear(6, 3).double()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.embed(x) if not x.is_floating_point() else x
        return self.head(torch.tanh(h).mean(1))


def replica_baseline(x: torch.Tensor, baseline, kind: str) -> torch.Tensor:
    """One sample's replacement values, from the definitions (uniform is tested separately)."""
    if not isinstance(baseline, str):
        return torch.full_like(x, baseline)
    if baseline == "mean":
        if kind == "image":
            return x.mean(dim=(1, 2), keepdim=True).expand_as(x)
        return x.mean(dim=0, keepdim=True).expand_as(x)
    # blur: a Gaussian blur, sigma 2, reflected edges, separable; the filter is tested below
    if kind == "image":
        return gaussian_filter(x[None], 2.0, axes=2)[0]
    return gaussian_filter(x.T[None], 2.0, axes=1)[0].T


@torch.no_grad()
def replica_curve(model, x, a, target, step, baseline, order, region, kind):
    """Perturb one sample one step at a time: rank regions by summed attribution, set the next
    ``step`` regions to the baseline, run the model on that single input."""
    if kind == "image":
        heat = a.sum(0) if a.dim() == 3 else a
        height, width = heat.shape
        grid_w = math.ceil(width / region)
        region_of = {
            (i, j): (i // region) * grid_w + (j // region)
            for i in range(height)
            for j in range(width)
        }
    else:
        heat = a.sum(-1) if a.dim() == 2 else a
        region_of = {(t,): t // region for t in range(heat.shape[0])}
    scores: dict[int, float] = {}
    for element, number in region_of.items():
        scores[number] = scores.get(number, 0.0) + float(heat[element])
    sign = -1 if order == "morf" else 1
    ranked = sorted(scores, key=lambda p: (sign * scores[p], p))
    values = replica_baseline(x, baseline, kind)
    current = x.clone()
    out = [float(model(current[None])[0, target])]
    for start in range(0, len(ranked), step):
        chosen = set(ranked[start : start + step])
        for element, number in region_of.items():
            if number in chosen:
                if kind == "image":
                    current[:, element[0], element[1]] = values[:, element[0], element[1]]
                else:
                    current[element[0]] = values[element[0]]
        out.append(float(model(current[None])[0, target]))
    return out


@pytest.mark.parametrize("order", ["morf", "lerf"])
@pytest.mark.parametrize(
    ("step", "region", "baseline"),
    [(1, 1, 0.0), (5, 1, -0.5), (3, 2, "mean"), (2, 3, "blur"), (7, 1, "blur"), (42, 1, 0.0)],
)
def test_image_curves_equal_the_replica(order, step, region, baseline) -> None:
    model = image_model()
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(4, 3, 7, 6, generator=generator, dtype=torch.float64)
    a = torch.randn(4, 3, 7, 6, generator=generator, dtype=torch.float64)
    a[0, :, :2] = 0.0  # ties: resolved by position index
    target = [0, 3, 4, 1]
    curves = pixel_flipping(
        model, x, a, target, step=step, baseline=baseline, order=order, region=region,
        forward_batch=7,
    )  # fmt: skip
    for n in range(4):
        expected = replica_curve(
            model, x[n], a[n], target[n], step, baseline, order, region, "image"
        )
        assert curves.shape[1] == len(expected)
        assert torch.allclose(curves[n], torch.tensor(expected, dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("order", ["morf", "lerf"])
@pytest.mark.parametrize(("step", "region"), [(1, 1), (2, 1), (1, 3), (3, 2)])
def test_token_id_curves_equal_the_replica(order, step, region) -> None:
    model = TokenModel()
    generator = torch.Generator().manual_seed(4)
    ids = torch.randint(1, 20, (3, 9), generator=generator)
    a = torch.randn(3, 9, generator=generator, dtype=torch.float64)
    curves = pixel_flipping(model, ids, a, 2, step=step, baseline=0, order=order, region=region)
    for n in range(3):
        expected = replica_curve(model, ids[n], a[n], 2, step, 0, order, region, "tokens")
        assert torch.allclose(curves[n], torch.tensor(expected, dtype=torch.float64), atol=1e-6)


@pytest.mark.parametrize("baseline", [0.25, "mean", "blur"])
@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_token_embedding_curves_equal_the_replica(order, baseline) -> None:
    model = TokenModel()
    generator = torch.Generator().manual_seed(5)
    x = torch.randn(3, 8, 6, generator=generator, dtype=torch.float64)
    a = torch.randn(3, 8, 6, generator=generator, dtype=torch.float64)
    curves = pixel_flipping(model, x, a, [0, 1, 2], step=3, baseline=baseline, order=order)
    for n in range(3):
        expected = replica_curve(model, x[n], a[n], n, 3, baseline, order, 1, "tokens")
        assert torch.allclose(curves[n], torch.tensor(expected, dtype=torch.float64), atol=1e-6)


def test_uniform_baseline_is_seeded_and_within_the_sample_range() -> None:
    model = image_model()
    x = torch.rand(2, 3, 7, 6, dtype=torch.float64) * 3 - 1
    a = torch.randn(2, 3, 7, 6, dtype=torch.float64)
    first = pixel_flipping(model, x, a, 0, step=6, baseline="uniform", seed=5)
    again = pixel_flipping(model, x, a, 0, step=6, baseline="uniform", seed=5)
    other = pixel_flipping(model, x, a, 0, step=6, baseline="uniform", seed=6)
    assert torch.equal(first, again) and not torch.equal(first, other)
    from relscope.core.evaluation.baselines import baseline_values

    values = baseline_values(x, "uniform", "image", seed=5)
    for n in range(2):
        assert x[n].min() <= values[n].min() and values[n].max() <= x[n].max()
    # fully perturbed: the model sees only the noise
    assert torch.allclose(first[:, -1], model(values)[:, 0], atol=1e-9)


def test_gaussian_filter_matches_scipy() -> None:
    from scipy.ndimage import gaussian_filter as scipy_filter

    x = torch.rand(2, 9, 11, dtype=torch.float64)
    ours = gaussian_filter(x, 1.5, axes=2)
    for n in range(2):  # scipy's 'mirror' mode is torch's 'reflect' padding; radius = ceil(3 sigma)
        ref = scipy_filter(x[n].numpy(), 1.5, mode="mirror", truncate=5 / 1.5)  # radius 5
        assert abs(ours[n].numpy() - ref).max() < 1e-12


def test_areas_from_their_formulas() -> None:
    morf = torch.tensor([[4.0, 2.0, 1.0, 0.0], [2.0, 2.0, 1.0, 1.0]], dtype=torch.float64)
    lerf = torch.tensor([[4.0, 4.0, 3.0, 0.0], [2.0, 3.0, 2.0, 1.0]], dtype=torch.float64)
    assert aopc(morf).tolist() == [(0 + 2 + 3 + 4) / 4, (0 + 0 + 1 + 1) / 4]
    assert aopc(morf, normalised=True).tolist() == [9 / 16, 2 / 8]
    assert abpc(morf, lerf).tolist() == [(0 + 2 + 2 + 0) / 4, (0 + 1 + 1 + 0) / 4]
    assert abpc(morf, lerf, normalised=True).tolist() == [1 / 4, 1 / 4]


def test_one_forward_holds_many_steps() -> None:
    model = image_model()
    calls: list[int] = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    x, a = torch.rand(3, 3, 7, 6, dtype=torch.float64), torch.randn(3, 3, 7, 6, dtype=torch.float64)
    curves = pixel_flipping(model, x, a, 0, step=2, forward_batch=32)
    # 3 x 22 (sample, step) rows, less 2: the fully perturbed input (all 0) is one row for all 3
    assert curves.shape == (3, 22) and calls == [32, 32]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"step": 0}, "step must be a positive integer"),
        ({"step": 43}, "step 43 is larger than the 42 positions"),
        ({"baseline": "zeros"}, "unknown baseline 'zeros'"),
        ({"order": "random"}, "order must be 'morf' or 'lerf'"),
        ({"target": 5}, "target 5 is outside the model's 5 outputs"),
        ({"attributions": torch.zeros(2, 2, 7, 6)}, "do not match inputs of shape (2, 3, 7, 6)"),
    ],
)
def test_bad_input_is_a_clear_error(kwargs, message) -> None:
    model = image_model()
    args = {
        "model": model,
        "inputs": torch.rand(2, 3, 7, 6, dtype=torch.float64),
        "attributions": torch.rand(2, 1, 7, 6, dtype=torch.float64),
        "target": 0,
    } | kwargs
    with pytest.raises(EvaluationError, match=message.replace("(", r"\(").replace(")", r"\)")):
        pixel_flipping(**args)


@pytest.mark.parametrize("order", ["morf", "lerf"])
def test_steps_that_change_nothing_reuse_the_last_output(order: str) -> None:
    model = image_model()
    calls: list[int] = []
    model.register_forward_hook(lambda m, i, o: calls.append(i[0].shape[0]))
    generator = torch.Generator().manual_seed(6)
    x = torch.rand(3, 3, 7, 6, generator=generator, dtype=torch.float64)
    x[:, :, :4] = 0.0  # a black background: setting it to 0 changes nothing
    a = torch.randn(3, 3, 7, 6, generator=generator, dtype=torch.float64)
    curves = pixel_flipping(model, x, a, [1, 2, 3], step=2, order=order, forward_batch=1000)
    engine_calls = list(calls)
    for n in range(3):
        expected = replica_curve(model, x[n], a[n], n + 1, 2, 0.0, order, 1, "image")
        assert torch.allclose(curves[n], torch.tensor(expected, dtype=torch.float64), atol=1e-6)
    assert len(engine_calls) == 1 and engine_calls[0] < 3 * 22  # fewer rows than (sample, step)
