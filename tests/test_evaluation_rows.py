"""Each distinct perturbed input runs once: MoRF and LeRF share the unperturbed and the fully
perturbed rows, samples share the fully perturbed row when their baselines are equal; the curves
stay those of separate runs; channels-last execution leaves the model exactly as it was."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relscope.core.evaluation import pixel_flipping
from relscope.core.evaluation.memory_format import channels_last_weights
from relscope.core.evaluation.metric import EvaluationBatch, PerturbationSettings
from relscope.core.evaluation.perturbation import perturbation_curves

N, C, H, W, STEP = 5, 2, 6, 6, 4  # 36 positions: S = 9 steps


def conv_model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(
        nn.Conv2d(C, 3, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(3 * H * W, 4)
    ).double()


def counted(model: nn.Module) -> list[int]:
    rows: list[int] = []
    model.register_forward_hook(lambda m, i, o: rows.append(i[0].shape[0]))
    return rows


@pytest.mark.parametrize(
    ("baseline", "shared_by_samples"), [(0.0, True), (-1.5, True), ("blur", False)]
)
def test_both_orders_run_each_distinct_input_once(baseline, shared_by_samples) -> None:
    generator = torch.Generator().manual_seed(2)
    x = torch.rand(N, C, H, W, generator=generator, dtype=torch.float64) + 0.1  # never 0
    a = torch.randn(N, C, H, W, generator=generator, dtype=torch.float64)
    target = [0, 1, 2, 3, 0]
    model = conv_model()
    rows = counted(model)
    both = perturbation_curves(model, x, a, target, STEP, baseline, ("morf", "lerf"))
    steps = 9
    # per order N (S+1) rows; less N (step 0 once), N (step S once), and for an equal baseline
    # everywhere N - 1 more (the fully perturbed input is the same for every sample)
    expected = 2 * N * (steps + 1) - 2 * N - ((N - 1) if shared_by_samples else 0)
    assert sum(rows) == expected
    for order in ("morf", "lerf"):
        alone = pixel_flipping(model, x, a, target, step=STEP, baseline=baseline, order=order)
        assert torch.allclose(both[order], alone, atol=1e-12)
    assert torch.equal(both["morf"][:, 0], both["lerf"][:, 0])
    assert torch.equal(both["morf"][:, -1], both["lerf"][:, -1])


def test_a_batch_makes_the_curves_its_metrics_need_in_one_go() -> None:
    generator = torch.Generator().manual_seed(3)
    x = torch.rand(N, C, H, W, generator=generator, dtype=torch.float64) + 0.1
    a = torch.randn(N, C, H, W, generator=generator, dtype=torch.float64)
    model = conv_model()
    rows = counted(model)
    classes = torch.tensor([0, 1, 2, 3, 0])
    batch = EvaluationBatch(
        model, x, a, classes, PerturbationSettings(step=STEP), orders=("morf", "lerf")
    )
    morf = batch.curve("morf")
    calls = len(rows)
    lerf = batch.curve("lerf")  # made with the first request
    assert len(rows) == calls and sum(rows) == 2 * N * 10 - 2 * N - (N - 1)
    assert torch.allclose(lerf, pixel_flipping(model, x, a, classes, step=STEP, order="lerf"))
    assert torch.allclose(morf, pixel_flipping(model, x, a, classes, step=STEP, order="morf"))


def test_channels_last_puts_the_very_same_weights_back() -> None:
    model = conv_model()
    before = [(p, p.data, p.data.stride()) for p in model.parameters()]
    x = torch.rand(2, C, H, W, dtype=torch.float64)
    reference = model(x)
    with channels_last_weights(model):
        weight = model[0].weight
        assert weight.is_contiguous(memory_format=torch.channels_last)
        assert not weight.is_contiguous()
        assert torch.allclose(model(x.contiguous(memory_format=torch.channels_last)), reference)
    with pytest.raises(RuntimeError, match="inside"), channels_last_weights(model):
        raise RuntimeError("inside")
    after = list(model.parameters())
    assert len(after) == len(before)
    for (parameter, data, stride), now in zip(before, after, strict=True):
        assert now is parameter and now.data_ptr() == data.data_ptr() and now.stride() == stride
    assert torch.equal(model(x), reference)
