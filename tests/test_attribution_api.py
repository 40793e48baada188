"""The front door: attribute(...) targets, composites by name, attributors, and clear errors."""

from __future__ import annotations

import pytest
import torch

import relscope.core
from relscope.core.attribution import (
    Convolution,
    Gradient,
    LayerMapComposite,
    Linear,
    attribute,
    get_attributor,
    get_composite,
)
from relscope.core.errors import (
    AttributionError,
    RelscopeError,
    RuleConfigurationError,
    UnknownNameError,
)
from relscope.core.registry import get_registry
from tests.attribution_support import (  # noqa: F401  (fixture)
    assert_float32_paths_close,
    grad_of,
    single_thread,
    small_cnn,
)

pytestmark = pytest.mark.usefixtures("single_thread")


@pytest.fixture
def model_and_input():
    torch.manual_seed(0)
    return small_cnn(), torch.randn(3, 3, 8, 8)


def test_every_target_form_gives_the_same_relevance(model_and_input) -> None:
    model, x = model_and_input
    composite = get_composite("epsilon_plus")
    one_hot = torch.zeros(3, 5)
    one_hot[:, 4] = 1.0
    forms = [4, [4, 4, 4], (4, 4, 4), torch.tensor([4, 4, 4]), torch.tensor(4), one_hot,
             lambda out: one_hot]  # fmt: skip
    results = [attribute(model, x, target=t, composite=composite) for t in forms]
    for result in results[1:]:
        assert torch.equal(result, results[0])
    assert results[0].shape == x.shape and results[0].dtype == x.dtype
    per_sample = attribute(model, x, target=[0, 1, 2], composite=composite)
    for i in range(3):
        alone = attribute(model, x[i : i + 1], target=i, composite=composite)
        assert_float32_paths_close(per_sample[i : i + 1], alone)


def test_no_target_means_each_samples_top_class(model_and_input) -> None:
    model, x = model_and_input
    with torch.no_grad():
        top = model(x).argmax(1).tolist()
    assert torch.equal(attribute(model, x, composite="epsilon_plus"),
                       attribute(model, x, target=top, composite="epsilon_plus"))  # fmt: skip


def test_no_composite_is_the_plain_gradient(model_and_input) -> None:
    model, x = model_and_input
    relevance = attribute(model, x, target=[1, 2, 3])
    _, grad = grad_of(model, x, torch.eye(5)[[1, 2, 3]])
    assert torch.equal(relevance, grad)


def test_core_reexports_and_registered_attributor(model_and_input) -> None:
    model, x = model_and_input
    assert relscope.core.attribute is attribute
    assert relscope.core.get_composite is get_composite
    attributor = get_attributor("gradient", model=model, composite=get_composite("epsilon_plus"))
    assert isinstance(attributor, Gradient)
    output, relevance = attributor(x, 2)
    with torch.no_grad():
        assert torch.equal(output, model(x))
    assert torch.equal(relevance, attribute(model, x, target=2, composite="epsilon_plus"))
    assert get_registry("attributors").lookup("gradient") is Gradient


def test_attributor_as_context_manager_builds_weights_once(model_and_input) -> None:
    model, x = model_and_input
    composite = get_composite("epsilon_gamma_box", low=-3.0, high=3.0)
    with Gradient(model, composite) as attributor:
        _, first = attributor(x, 1)
        rules = {name: rule for name, _, rule in composite.attached()}
        blocks = dict(rules["4"]._blocks)
        _, second = attributor(x, 1)
        assert all(rules["4"]._blocks[k][1] is v[1] for k, v in blocks.items())
    assert torch.equal(first, second)
    assert composite.attached() == []


def test_registry_names_in_layer_maps(model_and_input) -> None:
    model, x = model_and_input
    by_name = LayerMapComposite([(Convolution, "gamma"), (Linear, "epsilon")])
    rules = get_registry("rules")
    by_object = LayerMapComposite(
        [(Convolution, rules.lookup("gamma")()), (Linear, rules.lookup("epsilon")())]
    )
    assert torch.equal(attribute(model, x, 0, composite=by_name),
                       attribute(model, x, 0, composite=by_object))  # fmt: skip


def test_unknown_names_list_the_known_ones(model_and_input) -> None:
    model, x = model_and_input
    with pytest.raises(UnknownNameError, match="unknown composite 'epsilon_pluss'.*epsilon_plus"):
        attribute(model, x, composite="epsilon_pluss")
    with pytest.raises(UnknownNameError, match="unknown rule 'gama'.*gamma"):
        LayerMapComposite([(Convolution, "gama")])
    with pytest.raises(UnknownNameError, match="unknown attributor 'gradients'.*gradient"):
        attribute(model, x, attributor="gradients")


def test_bad_rule_parameters_fail_clearly() -> None:
    rules = get_registry("rules")
    with pytest.raises(RuleConfigurationError, match="alpha - beta = 1"):
        rules.lookup("alpha_beta")(alpha=2.0, beta=2.0)
    with pytest.raises(RuleConfigurationError, match="alpha >= 0 and beta >= 0"):
        rules.lookup("alpha_beta")(alpha=0.5, beta=-0.5)
    with pytest.raises(RuleConfigurationError, match="zbox needs the input bounds low and high"):
        rules.lookup("zbox")()
    with pytest.raises(RuleConfigurationError, match="zbox needs the input bounds"):
        get_composite("epsilon_gamma_box")
    with pytest.raises(RuleConfigurationError, match="zbox needs the input bounds"):
        LayerMapComposite([(Convolution, "zbox")])
    with pytest.raises(RuleConfigurationError, match="gamma must be >= 0"):
        rules.lookup("gamma")(gamma=-1.0)
    with pytest.raises(RuleConfigurationError, match="stabiliser"):
        rules.lookup("epsilon")(epsilon="big")
    with pytest.raises(
        RuleConfigurationError, match="epsilon_plus.*unexpected.*bogus.*accepts: epsilon"
    ):
        get_composite("epsilon_plus", bogus=1)


def test_bounds_that_cannot_broadcast_fail_clearly(model_and_input) -> None:
    model, x = model_and_input
    composite = get_composite("epsilon_gamma_box", low=torch.zeros(2, 1, 1), high=1.0)
    with pytest.raises(
        AttributionError, match=r"zbox low bound of shape \(2, 1, 1\) cannot broadcast"
    ):
        attribute(model, x, target=0, composite=composite)
    per_channel = get_composite(
        "epsilon_gamma_box", low=-torch.ones(1, 3, 1, 1), high=torch.ones(3, 1, 1)
    )
    assert attribute(model, x, target=0, composite=per_channel).shape == x.shape


def test_bad_targets_and_inputs_fail_clearly(model_and_input) -> None:
    model, x = model_and_input
    with pytest.raises(AttributionError, match="target class 7 is out of range: the model has 5"):
        attribute(model, x, target=7)
    with pytest.raises(AttributionError, match="got 2 targets for a batch of 3"):
        attribute(model, x, target=[0, 1])
    with pytest.raises(AttributionError, match="does not broadcast"):
        attribute(model, x, target=torch.ones(3, 4))
    with pytest.raises(AttributionError, match="target must be"):
        attribute(model, x, target="cat")
    with pytest.raises(AttributionError, match="floating point"):
        attribute(model, x.to(torch.uint8), target=0)
    with pytest.raises(AttributionError, match="composite must be"):
        attribute(model, x, composite=42)
    assert issubclass(AttributionError, RelscopeError)
