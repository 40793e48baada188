"""Leaving a composite context (normally or through an exception) leaves the model exactly as it
was; rules attach only where gradients flow; repeated and successive attributions agree."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from relscope.core.attribution import (
    Gradient,
    LayerMapComposite,
    NameMapComposite,
    attribute,
    get_composite,
)
from relscope.core.errors import AttributionError, RuleConfigurationError
from tests.attribution_support import single_thread, small_cnn  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

COMPOSITES = {
    "epsilon_gamma_box": {"low": -3.0, "high": 3.0},
    "epsilon_plus_flat": {},
    "epsilon_alpha2_beta1": {},
    "excitation_backprop": {},
    "guided_backprop": {},
}


def snapshot(model: nn.Module) -> dict:
    """Everything a composite could touch: tensors (values and identity), module dicts, hooks."""
    state = {}
    for name, tensor in model.state_dict(keep_vars=True).items():
        state[f"tensor:{name}"] = (id(tensor), tensor.detach().clone(), tensor.requires_grad)
    for name, module in model.named_modules():
        state[f"keys:{name}"] = sorted(module.__dict__)
        state[f"inplace:{name}"] = getattr(module, "inplace", None)
        state[f"training:{name}"] = module.training
        for attr, value in module.__dict__.items():
            if "hook" in attr and isinstance(value, dict):
                state[f"hooks:{name}:{attr}"] = [(k, id(v)) for k, v in value.items()]
    return state


def assert_same(before: dict, after: dict) -> None:
    assert before.keys() == after.keys()
    for key, value in before.items():
        if key.startswith("tensor:"):
            assert value[0] == after[key][0], key
            assert torch.equal(value[1], after[key][1]), key
            assert value[2] == after[key][2], key
        else:
            assert value == after[key], key


def user_hooks(model: nn.Module) -> list[str]:
    """A forward hook, a forward pre-hook and a tensor backward hook registered by 'the user'."""
    calls: list[str] = []
    model[0].register_forward_pre_hook(lambda m, i: calls.append("pre"))
    model[4].register_forward_hook(lambda m, i, o: calls.append("post"))
    model[11].register_full_backward_hook(lambda m, gi, go: calls.append("backward"))
    return calls


@pytest.mark.parametrize("name", list(COMPOSITES))
def test_model_is_identical_after_the_context_also_after_an_exception(name: str) -> None:
    model = small_cnn(inplace=True)
    calls = user_hooks(model)
    torch.manual_seed(0)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        reference = model(x)
    before = snapshot(model)
    composite = get_composite(name, **COMPOSITES[name])
    with composite.context(model) as modified:
        assert modified is model
        leaf = x.clone().requires_grad_(True)
        out = model(leaf)
        torch.autograd.grad(out, leaf, torch.ones_like(out))
    assert_same(before, snapshot(model))
    with pytest.raises(RuntimeError, match="inside"):
        with composite.context(model):
            model(x.clone().requires_grad_(True))
            raise RuntimeError("raised inside the context")
    assert_same(before, snapshot(model))
    with torch.no_grad():
        assert torch.equal(model(x), reference)
    # the user's hooks kept firing inside the context, and still do
    assert calls.count("pre") >= 2 and calls.count("post") >= 2 and "backward" in calls


def test_a_failing_registration_undoes_the_layers_already_done() -> None:
    model = small_cnn()
    before = snapshot(model)
    composite = NameMapComposite([("0", "zplus"), ("2", "zplus")])  # layer 2 is a ReLU
    with pytest.raises(RuleConfigurationError, match="layer '2'.*ReLU"):
        with composite.context(model):
            pass
    assert_same(before, snapshot(model))


def test_an_error_in_the_backward_pass_still_restores_the_model() -> None:
    model = small_cnn()
    before = snapshot(model)
    composite = get_composite("epsilon_gamma_box", low=torch.zeros(5), high=torch.ones(5))
    with pytest.raises(AttributionError, match="cannot broadcast"):
        attribute(model, torch.randn(1, 3, 8, 8), target=0, composite=composite)
    assert_same(before, snapshot(model))


def test_attributing_twice_gives_identical_results_and_composites_do_not_leak() -> None:
    torch.manual_seed(1)
    x = torch.randn(3, 3, 8, 8)
    model = small_cnn()
    box = get_composite("epsilon_gamma_box", low=-3.0, high=3.0)
    first = attribute(model, x, target=[0, 1, 2], composite=box)
    second = attribute(model, x, target=[0, 1, 2], composite=box)
    assert torch.equal(first, second)
    plus = attribute(model, x, target=[0, 1, 2], composite="epsilon_plus")
    after = attribute(model, x, target=[0, 1, 2], composite=box)
    assert torch.equal(after, first)
    fresh = attribute(small_cnn(), x, target=[0, 1, 2], composite="epsilon_plus")
    assert torch.equal(plus, fresh)
    assert not torch.allclose(plus, first)


def test_inplace_relus_give_the_same_relevance_as_out_of_place_ones() -> None:
    torch.manual_seed(2)
    x = torch.randn(2, 3, 8, 8)
    for name, params in COMPOSITES.items():
        inplace = attribute(
            small_cnn(inplace=True), x, target=1, composite=get_composite(name, **params)
        )
        plain = attribute(
            small_cnn(inplace=False), x, target=1, composite=get_composite(name, **params)
        )
        assert torch.equal(inplace, plain), name


def test_no_rule_runs_without_gradients() -> None:
    model = small_cnn()
    torch.manual_seed(3)
    x = torch.randn(2, 3, 8, 8)
    with torch.no_grad():
        reference = model(x)
    composite = get_composite("epsilon_gamma_box", low=-3.0, high=3.0)
    with composite.context(model):
        with torch.no_grad():
            out = model(x)
        assert torch.equal(out, reference)
        rules = [rule for _, _, rule in composite.attached() if rule is not None]
        assert rules and all(not getattr(rule, "_blocks", {}) for rule in rules)
        # an input that needs no gradient: the first layer runs plainly, the others by their
        # rules; γ computes the output as (z↑ + z↓) / (2 + γ), equal up to float rounding
        out = model(x)
        torch.testing.assert_close(out.detach(), reference, rtol=1e-5, atol=1e-6)
        assert not composite.attached()[0][2]._blocks
        # with gradients the rules build their modified weights once, then reuse them
        leaf = x.clone().requires_grad_(True)
        model(leaf).sum().backward()
        cached = {id(rule): dict(rule._blocks) for rule in rules if hasattr(rule, "_blocks")}
        assert any(cached.values())
        model(leaf).sum().backward()
        for rule in rules:
            for key, value in getattr(rule, "_blocks", {}).items():
                assert value[1] is cached[id(rule)][key][1]


def test_inputs_without_requires_grad_and_dropout_in_eval() -> None:
    model = small_cnn()
    x = torch.randn(2, 3, 8, 8)
    assert not x.requires_grad
    first = attribute(model, x, target=0, composite="epsilon_plus")
    second = attribute(model, x, target=0, composite="epsilon_plus")
    assert torch.equal(first, second)  # dropout is the identity in eval mode
    assert not x.requires_grad and first.shape == x.shape


def test_a_second_composite_on_the_same_model_is_refused_while_one_is_active() -> None:
    model = small_cnn()
    outer = get_composite("epsilon_plus")
    before = snapshot(model)
    with outer.context(model):
        with pytest.raises(AttributionError, match="already has a rule"):
            with get_composite("epsilon_alpha2_beta1").context(model):
                pass
        # the outer composite still works
        Gradient(model)(torch.randn(1, 3, 8, 8), 0)
        with pytest.raises(AttributionError, match="already registered"):
            outer.register(model)
    assert_same(before, snapshot(model))


@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_torchscript_models_are_refused_clearly() -> None:
    scripted = torch.jit.trace(nn.Sequential(nn.Linear(3, 2)), torch.randn(1, 3))
    with pytest.raises(AttributionError, match="TorchScript"):
        with LayerMapComposite([(nn.Linear, "epsilon")]).context(scripted):
            pass
