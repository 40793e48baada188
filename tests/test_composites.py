"""Composites: every layer of vgg16 and alexnet gets the rule the spec names, the general composite
kinds (type, name, first layer, mixed) map as documented, and canonizers are applied and undone."""

from __future__ import annotations

import pytest
import torch
import torchvision
from torch import nn

from relscope.core.attribution import (
    Canonizer,
    Convolution,
    LayerMapComposite,
    Linear,
    MixedComposite,
    NameMapComposite,
    Sum,
    attribute,
    get_composite,
)
from relscope.core.registry import get_registry
from tests.attribution_support import single_thread, small_cnn  # noqa: F401  (fixture)

pytestmark = pytest.mark.usefixtures("single_thread")

# leaf kind -> rule name (None: keeps its gradient), per composite; "first" is the first conv
SPEC = {
    "epsilon_gamma_box": {"first": "zbox", "conv": "gamma", "dense": "epsilon", "relu": "pass",
                          "avgpool": "norm", "maxpool": None, "dropout": None},
    "epsilon_plus": {"first": "zplus", "conv": "zplus", "dense": "epsilon", "relu": "pass",
                     "avgpool": "norm", "maxpool": None, "dropout": None},
    "epsilon_plus_flat": {"first": "flat", "conv": "zplus", "dense": "epsilon", "relu": "pass",
                          "avgpool": "norm", "maxpool": None, "dropout": None},
    "epsilon_alpha2_beta1": {"first": "alpha_beta", "conv": "alpha_beta", "dense": "epsilon",
                             "relu": "pass", "avgpool": "norm", "maxpool": None, "dropout": None},
    "epsilon_alpha2_beta1_flat": {"first": "flat", "conv": "alpha_beta", "dense": "epsilon",
                                  "relu": "pass", "avgpool": "norm", "maxpool": None,
                                  "dropout": None},
    "excitation_backprop": {"first": "excitation_backprop", "conv": "excitation_backprop",
                            "dense": "excitation_backprop", "relu": None, "avgpool": "norm",
                            "maxpool": None, "dropout": None},
    "guided_backprop": {"first": None, "conv": None, "dense": None, "relu": "guided_backprop",
                        "avgpool": None, "maxpool": None, "dropout": None},
    "deconvnet": {"first": None, "conv": None, "dense": None, "relu": "deconvnet",
                  "avgpool": None, "maxpool": None, "dropout": None},
    "beta_smooth": {"first": None, "conv": None, "dense": None, "relu": "beta_smooth",
                    "avgpool": None, "maxpool": None, "dropout": None},
}  # fmt: skip

PARAMS = {"epsilon_gamma_box": {"low": -2.5, "high": 2.5}}


def kind(name: str, module: nn.Module, first: str) -> str:
    if isinstance(module, nn.Conv2d):
        return "first" if name == first else "conv"
    return {
        nn.Linear: "dense",
        nn.ReLU: "relu",
        nn.AdaptiveAvgPool2d: "avgpool",
        nn.MaxPool2d: "maxpool",
        nn.Dropout: "dropout",
    }[type(module)]


@pytest.fixture(scope="module")
def torchvision_models() -> dict[str, tuple[nn.Module, torch.Tensor]]:
    torch.manual_seed(0)
    return {
        "vgg16": (torchvision.models.vgg16(weights=None).eval(), torch.randn(1, 3, 32, 32)),
        "alexnet": (torchvision.models.alexnet(weights=None).eval(), torch.randn(1, 3, 64, 64)),
    }


@pytest.mark.parametrize("model_name", ["vgg16", "alexnet"])
@pytest.mark.parametrize("composite_name", list(SPEC))
def test_every_torchvision_layer_gets_the_spec_rule(
    torchvision_models: dict, model_name: str, composite_name: str
) -> None:
    model, example = torchvision_models[model_name]
    composite = get_composite(composite_name, **PARAMS.get(composite_name, {}))
    mapping = composite.mapping(model, example)
    leaves = [(n, m) for n, m in model.named_modules() if next(m.children(), None) is None]
    assert len(leaves) == (39 if model_name == "vgg16" else 21)
    for name, module in leaves:
        expected = SPEC[composite_name][kind(name, module, "features.0")]
        rule = mapping.get(name)
        got = None if rule is None else rule.name
        assert got == expected, f"{composite_name} on {model_name}.{name} ({type(module).__name__})"
    # rules are per-layer copies with the composite's settings
    rules = [r for r in mapping.values() if r is not None]
    assert len({id(r) for r in rules}) == len(rules)
    second_conv = [n for n, m in leaves if isinstance(m, nn.Conv2d)][1]
    if composite_name == "epsilon_gamma_box":
        assert mapping["features.0"].low == -2.5 and mapping["features.0"].high == 2.5
        assert mapping[second_conv].gamma == 0.25
    if composite_name.startswith("epsilon_alpha2_beta1"):
        assert (mapping[second_conv].alpha, mapping[second_conv].beta) == (2.0, 1.0)


class HeadFirstRegistered(nn.Module):
    """Registers its dense head before its convolution; the input reaches the convolution first."""

    def __init__(self) -> None:
        super().__init__()
        self.head = nn.Linear(8 * 4 * 4, 3)
        self.body = nn.Conv2d(2, 8, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(torch.relu(self.body(x)).flatten(1))


def test_first_layer_is_the_first_the_input_reaches_not_the_first_registered() -> None:
    model = HeadFirstRegistered().eval()
    assert next(iter(model.children())) is model.head
    mapping = get_composite("epsilon_plus_flat").mapping(model, torch.randn(1, 2, 4, 4))
    assert mapping["body"].name == "flat"
    assert mapping["head"].name == "epsilon"
    # the flat rule is really used for the body: it ignores inputs and weights, so both input
    # channels get the same relevance at each pixel (they would not with z⁺ or ε)
    torch.manual_seed(1)
    x = torch.randn(2, 2, 4, 4)
    relevance = attribute(model, x, target=0, composite="epsilon_plus_flat")
    assert torch.equal(relevance[:, 0], relevance[:, 1])
    plus = attribute(model, x, target=0, composite="epsilon_plus")
    assert not torch.allclose(plus[:, 0], plus[:, 1])


def test_layer_map_accepts_registry_names_and_first_match_wins() -> None:
    model = small_cnn()
    mapping = LayerMapComposite([(Convolution, "gamma"), (Linear, "epsilon")]).mapping(model)
    assert mapping["0"].name == "gamma" and mapping["4"].name == "gamma"
    assert mapping["9"].name == "epsilon" and mapping["11"].name == "epsilon"
    assert "2" not in mapping  # ReLU: no entry, keeps its gradient
    swapped = LayerMapComposite([(Linear, "epsilon"), (Convolution, "gamma")]).mapping(model)
    assert swapped["0"].name == "epsilon"


def test_layer_map_predicate_and_name_map() -> None:
    model = small_cnn()
    predicate = LayerMapComposite(
        [(lambda m: isinstance(m, nn.Conv2d) and m.out_channels == 8, "zplus")]
    ).mapping(model)
    assert set(predicate) == {"4"}
    names = NameMapComposite([(("0", "9"), "flat"), ("1?", "norm")]).mapping(model)
    assert {k: v.name for k, v in names.items()} == {"0": "flat", "9": "flat", "10": "norm",
                                                      "11": "norm"}  # fmt: skip


def test_mixed_composite_takes_the_first_assignment() -> None:
    model = small_cnn()
    mixed = MixedComposite([NameMapComposite([("4", "wsquare")]), get_composite("epsilon_plus")])
    mapping = mixed.mapping(model)
    assert mapping["4"].name == "wsquare"
    assert mapping["0"].name == "zplus" and mapping["11"].name == "epsilon"
    assert mapping["2"].name == "pass" and mapping["6"].name == "norm"


def test_mixed_composite_keeps_special_first_layer_logic() -> None:
    model = small_cnn()
    mixed = MixedComposite([NameMapComposite([("11", "flat")]), get_composite("epsilon_plus_flat")])
    mapping = mixed.mapping(model, torch.randn(1, 3, 8, 8))
    assert mapping["0"].name == "flat" and mapping["4"].name == "zplus"
    assert mapping["11"].name == "flat" and mapping["9"].name == "epsilon"


def test_extra_layer_map_goes_ahead_of_the_defaults() -> None:
    epsilon = get_registry("rules").lookup("epsilon")
    composite = get_composite("epsilon_plus", layer_map=[(nn.Linear, epsilon(epsilon=0.5))])
    mapping = composite.mapping(small_cnn())
    assert mapping["9"].name == "epsilon" and mapping["9"].stabilizer.epsilon == 0.5
    first = get_composite("epsilon_plus_flat", first_map=[(Convolution, "wsquare")])
    assert first.mapping(small_cnn(), torch.randn(1, 3, 8, 8))["0"].name == "wsquare"


def test_zero_params_reach_every_rule_and_change_the_result() -> None:
    model = small_cnn()
    mapping = get_composite("epsilon_plus", zero_params="bias").mapping(model)
    assert mapping["0"].zero_params == ("bias",) and mapping["11"].zero_params == ("bias",)
    general = LayerMapComposite([(Linear, "zplus")], zero_params=["bias"]).mapping(model)
    assert all(rule.zero_params == ("bias",) for rule in general.values())
    torch.manual_seed(2)
    x = torch.randn(2, 3, 8, 8)
    with_bias = attribute(model, x, target=1, composite="epsilon_plus")
    without = attribute(
        model, x, target=1, composite=get_composite("epsilon_plus", zero_params="bias")
    )
    assert (with_bias - without).abs().max() > 1e-4


def test_sum_layers_get_the_norm_rule() -> None:
    class Residual(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.conv = nn.Conv2d(2, 2, 3, padding=1)
            self.sum = Sum()

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return self.sum(torch.stack([x, self.conv(x)], dim=-1))

    mapping = get_composite("epsilon_gamma_box", low=-1.0, high=1.0).mapping(Residual())
    assert mapping["sum"].name == "norm"


class ScaleWeight(Canonizer):
    """A real canonizer for the test: multiplies one Linear layer's weight by a factor."""

    name = "scale_weight"

    def __init__(self, factor: float) -> None:
        super().__init__()
        self.factor = factor

    def register(self, model: nn.Module) -> None:
        layer = next(m for m in model.modules() if isinstance(m, nn.Linear))
        self.set_tensor_data(layer.weight, layer.weight.data * self.factor)


def test_canonizers_apply_before_rules_and_are_removed_in_reverse_order() -> None:
    model = small_cnn()
    weight = model[9].weight
    before = weight.detach().clone()
    double, triple = ScaleWeight(2.0), ScaleWeight(3.0)
    composite = get_composite("epsilon_plus", canonizers=[double, triple])
    with composite.context(model):
        assert torch.equal(model[9].weight, before * 6.0)
        assert model[9].weight is weight
    assert torch.equal(model[9].weight, before) and model[9].weight is weight
    assert not double.registered and not triple.registered
    with pytest.raises(ZeroDivisionError):
        with composite.context(model):
            raise ZeroDivisionError("inside the context")
    assert torch.equal(model[9].weight, before)


def test_explicit_empty_canonizers_mean_none() -> None:
    model = small_cnn()
    composite = get_composite("epsilon_plus", canonizers=[])
    with composite.context(model):
        assert composite._applied == []
