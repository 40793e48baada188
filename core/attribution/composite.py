"""Composites: which rule each layer gets, and the context that attaches and removes them.

A composite maps layers to rule *templates* (by type, by name, by position as the first layer the
input reaches, or by any predicate); entering ``composite.context(model)`` applies canonizers, then
attaches a fresh copy of the template to each mapped layer; leaving it (also through an exception)
removes every rule and canonizer, so the model is exactly as before.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
from torch import nn

from relscope.core.attribution.attention_coverage import warn_uncovered_attention
from relscope.core.attribution.canonizer import Canonizer
from relscope.core.attribution.linear_rule import normalize_zero_params
from relscope.core.attribution.rule import Rule, RuleHandle, install_forward
from relscope.core.errors import AttributionError, RuleConfigurationError

RuleSpec = Rule | type | str
LayerKey = type | tuple | Callable[[nn.Module], bool]


def resolve_rule(spec: Any) -> Rule:
    """A rule template from a Rule, a Rule class, or a registered rule name (``"epsilon"``)."""
    from relscope.core.registry import get_registry

    rules = get_registry("rules")
    target = rules[spec] if isinstance(spec, str) else spec
    if not isinstance(target, Rule) and not (isinstance(target, type) and issubclass(target, Rule)):
        raise RuleConfigurationError(
            f"a rule must be a Rule, a Rule class or a registered rule name, not {spec!r}"
        )
    return rules.create(target)


def layer_matches(key: LayerKey, module: nn.Module) -> bool:
    """Whether ``module`` matches a layer-map key: a type, a tuple of types, or a predicate."""
    if isinstance(key, type) or (isinstance(key, tuple) and all(isinstance(k, type) for k in key)):
        return isinstance(module, key)
    if callable(key):
        return bool(key(module))
    raise RuleConfigurationError(
        f"a layer-map key must be a layer type, a tuple of types or a predicate, not {key!r}"
    )


class FirstLayerResolver:
    """Remembers which candidate layer ran first in the current context."""

    def __init__(self) -> None:
        self.first: nn.Module | None = None

    def claim(self, module: nn.Module) -> bool:
        """Mark ``module`` first if no candidate ran before; True when ``module`` is the first."""
        if self.first is None:
            self.first = module
        return self.first is module


class FirstLayerChoice:
    """Assignment for a candidate first layer: ``first`` if it runs first, else ``other``."""

    def __init__(self, first: Rule, other: Rule | None, resolver: FirstLayerResolver) -> None:
        self.first = first
        self.other = other
        self.resolver = resolver

    def copy(self) -> FirstLayerChoice:
        """Fresh rule copies sharing the resolver."""
        return FirstLayerChoice(
            self.first.copy(), None if self.other is None else self.other.copy(), self.resolver
        )

    def rules(self) -> list[Rule]:
        """The rules involved."""
        return [self.first] + ([self.other] if self.other is not None else [])

    def register(self, module: nn.Module) -> RuleHandle:
        """Attach both rules; the forward picks one by whether this layer runs first."""
        rules = self.rules()
        for rule in rules:
            rule.setup(module)
        choice = self

        def make_forward(original: Callable[..., Any]) -> Callable[..., Any]:
            for rule in rules:
                rule.attach(module, original)

            def forward(*args: Any, **kwargs: Any) -> Any:
                rule = choice.first if choice.resolver.claim(module) else choice.other
                if rule is None:
                    return original(*args, **kwargs)
                return rule.dispatch(original, args, kwargs)

            return forward

        return install_forward(module, make_forward, self)

    def release(self) -> None:
        """Release both rules."""
        for rule in self.rules():
            rule.release()

    def current(self, module: nn.Module) -> Rule | None:
        """The rule in force for ``module`` (first-layer rule once resolved as first)."""
        if self.resolver.first is None:
            return None
        return self.first if self.resolver.first is module else self.other


Assignment = Rule | FirstLayerChoice | None


class Composite:
    """Base of composites: :meth:`assign` says which rule template a layer gets.

    ``canonizers``: list of canonizers applied first (None: those of the ``default_canonizers``
    hook for the model; ``[]``: none). ``zero_params``: parameter names every attached rule with
    parameters treats as zero.
    """

    #: registry name (set by subclasses)
    name: str = ""

    def __init__(
        self,
        canonizers: Sequence[Canonizer] | None = None,
        zero_params: str | Sequence[str] | None = None,
    ) -> None:
        if canonizers is not None:
            canonizers = list(canonizers)
            for canonizer in canonizers:
                if not (hasattr(canonizer, "register") and hasattr(canonizer, "remove")):
                    raise RuleConfigurationError(
                        f"canonizers must have register(model) and remove(), got {canonizer!r}"
                    )
        self.canonizers = canonizers
        self.zero_params = None if zero_params is None else normalize_zero_params(zero_params)
        self._handles: list[tuple[str, nn.Module, RuleHandle, Any]] = []
        self._applied: list[Any] = []
        self._model: nn.Module | None = None

    # -- mapping (override) ---------------------------------------------------------------------
    def begin(self) -> None:
        """Reset per-context state before rules are attached (e.g. the first-layer resolver)."""

    def assign(self, name: str, module: nn.Module) -> Assignment:
        """The rule template for ``module`` called ``name``, or None (keeps its gradient)."""
        return None

    # -- registration ---------------------------------------------------------------------------
    def _canonizers_for(self, model: nn.Module) -> list[Any]:
        if self.canonizers is not None:
            return list(self.canonizers)
        from relscope.core.plugin_manager import default_plugin_manager

        found = default_plugin_manager().hook.default_canonizers(model=model)
        return list(found or [])

    def _apply_zero_params(self, attached: Any) -> Any:
        rules = attached.rules() if isinstance(attached, FirstLayerChoice) else [attached]
        if self.zero_params is not None:
            for rule in rules:
                if hasattr(rule, "zero_params"):
                    rule.zero_params = self.zero_params
        return attached

    def prepared(self, name: str, module: nn.Module) -> Any:
        """A fresh per-layer copy of ``module``'s assignment (None: keeps its gradient)."""
        assignment = self.assign(name, module)
        if assignment is None:
            return None
        return self._apply_zero_params(assignment.copy())

    def register(self, model: nn.Module) -> None:
        """Apply canonizers, then attach a rule copy to every mapped layer (undone on failure)."""
        if self._model is not None:
            raise AttributionError(
                f"composite {self.name or type(self).__name__} is already registered to a model; "
                "use one composite per model at a time"
            )
        if not isinstance(model, nn.Module):
            raise AttributionError(
                f"a composite needs a torch.nn.Module, not {type(model).__name__}"
            )
        if isinstance(model, torch.jit.ScriptModule):
            raise AttributionError(
                "composites need a Python nn.Module, not a TorchScript model (rules attach to layers)"
            )
        self._model = model
        try:
            for canonizer in self._canonizers_for(model):
                canonizer.register(model)
                self._applied.append(canonizer)
            self.begin()
            for name, module in model.named_modules():
                attached = self.prepared(name, module)
                if attached is None:
                    continue
                try:
                    handle = attached.register(module)
                except RuleConfigurationError as exc:
                    raise RuleConfigurationError(f"layer {name or '<model>'!r}: {exc}") from None
                self._handles.append((name, module, handle, attached))
            warn_uncovered_attention(self, model)
        except BaseException:
            self.remove()
            raise

    def remove(self) -> None:
        """Detach every rule, then undo the canonizers in reverse order (idempotent)."""
        errors: list[BaseException] = []
        while self._handles:
            _, _, handle, _ = self._handles.pop()
            try:
                handle.remove()
            except BaseException as exc:
                errors.append(exc)
        while self._applied:
            canonizer = self._applied.pop()
            try:
                canonizer.remove()
            except BaseException as exc:
                errors.append(exc)
        self._model = None
        if errors:
            raise errors[0]

    @contextmanager
    def context(self, model: nn.Module) -> Iterator[nn.Module]:
        """``with composite.context(model) as modified:`` rules attached inside, none after."""
        self.register(model)
        try:
            yield model
        finally:
            self.remove()

    # -- inspection -----------------------------------------------------------------------------
    def attached(self) -> list[tuple[str, nn.Module, Rule | None]]:
        """While registered: (name, layer, rule in force) for each layer that got an assignment."""
        result = []
        for name, module, _, attached in self._handles:
            rule = attached.current(module) if isinstance(attached, FirstLayerChoice) else attached
            result.append((name, module, rule))
        return result

    def mapping(
        self, model: nn.Module, example_input: torch.Tensor | None = None
    ) -> dict[str, Rule | None]:
        """Layer name -> rule each layer would get (None: gradient). Runs ``example_input``
        through the model (no gradients) to find the first layer the input reaches."""
        with self.context(model):
            if example_input is not None:
                with torch.no_grad():
                    model(example_input)
            return {name: rule for name, _, rule in self.attached()}

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


def _resolve_map(layer_map: Sequence[tuple[Any, Any]] | None, what: str) -> list[tuple[Any, Rule]]:
    result = []
    for entry in layer_map or []:
        if not (isinstance(entry, tuple | list) and len(entry) == 2):
            raise RuleConfigurationError(
                f"each {what} entry must be a (key, rule) pair, got {entry!r}"
            )
        key, spec = entry
        result.append((key, resolve_rule(spec)))
    return result


class LayerMapComposite(Composite):
    """Rules by layer type (or predicate): the first matching entry of ``layer_map`` wins."""

    def __init__(
        self,
        layer_map: Sequence[tuple[LayerKey, RuleSpec]] | None = None,
        canonizers: Sequence[Canonizer] | None = None,
        zero_params: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__(canonizers=canonizers, zero_params=zero_params)
        self.layer_map = _resolve_map(layer_map, "layer_map")

    def assign(self, name: str, module: nn.Module) -> Assignment:
        """The rule of the first entry whose key matches ``module``."""
        for key, rule in self.layer_map:
            if layer_matches(key, module):
                return rule
        return None


class NameMapComposite(Composite):
    """Rules by module name (as in ``model.named_modules()``; shell patterns like ``features.*``)."""

    def __init__(
        self,
        name_map: Sequence[tuple[str | Sequence[str], RuleSpec]] | None = None,
        canonizers: Sequence[Canonizer] | None = None,
        zero_params: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__(canonizers=canonizers, zero_params=zero_params)
        self.name_map = []
        for names, rule in _resolve_map(name_map, "name_map"):
            self.name_map.append(((names,) if isinstance(names, str) else tuple(names), rule))

    def assign(self, name: str, module: nn.Module) -> Assignment:
        """The rule of the first entry naming ``name``."""
        for names, rule in self.name_map:
            for pattern in names:
                if name == pattern or (
                    any(c in pattern for c in "*?[") and fnmatch.fnmatchcase(name, pattern)
                ):
                    return rule
        return None


class SpecialFirstLayerMapComposite(LayerMapComposite):
    """A layer map plus a ``first_map`` for the first matching layer that the input reaches.

    "First" is decided when the model runs: the first layer matching a ``first_map`` key that is
    called in the context gets that rule; every other layer gets its ``layer_map`` rule.
    """

    def __init__(
        self,
        layer_map: Sequence[tuple[LayerKey, RuleSpec]] | None = None,
        first_map: Sequence[tuple[LayerKey, RuleSpec]] | None = None,
        canonizers: Sequence[Canonizer] | None = None,
        zero_params: str | Sequence[str] | None = None,
    ) -> None:
        super().__init__(layer_map=layer_map, canonizers=canonizers, zero_params=zero_params)
        self.first_map = _resolve_map(first_map, "first_map")
        self.resolver = FirstLayerResolver()

    def begin(self) -> None:
        """A fresh resolver per context."""
        self.resolver = FirstLayerResolver()

    def assign(self, name: str, module: nn.Module) -> Assignment:
        """Candidates for the first layer get a choice between both rules."""
        other = super().assign(name, module)
        for key, rule in self.first_map:
            if layer_matches(key, module):
                return FirstLayerChoice(
                    rule, other if isinstance(other, Rule) else None, self.resolver
                )
        return other


class MixedComposite(Composite):
    """Several composites in one: a layer gets the assignment of the first composite that has one.

    Canonizers: ``canonizers`` if given, else the sub-composites' explicit lists (in order), else
    the ``default_canonizers`` hook's.
    """

    def __init__(
        self,
        composites: Sequence[Composite],
        canonizers: Sequence[Canonizer] | None = None,
        zero_params: str | Sequence[str] | None = None,
    ) -> None:
        if canonizers is None:
            explicit = [c for sub in composites if sub.canonizers for c in sub.canonizers]
            canonizers = explicit or None
        super().__init__(canonizers=canonizers, zero_params=zero_params)
        self.composites = list(composites)
        for sub in self.composites:
            if not isinstance(sub, Composite):
                raise RuleConfigurationError(f"MixedComposite needs composites, got {sub!r}")

    def begin(self) -> None:
        """Reset every sub-composite."""
        for sub in self.composites:
            sub.begin()

    def assign(self, name: str, module: nn.Module) -> Assignment:
        """The first sub-composite's assignment that is not None."""
        for sub in self.composites:
            assignment = sub.assign(name, module)
            if assignment is not None:
                return assignment
        return None

    def prepared(self, name: str, module: nn.Module) -> Any:
        """The first sub-composite's prepared copy (its own ``zero_params``, then ours)."""
        for sub in self.composites:
            attached = sub.prepared(name, module)
            if attached is not None:
                return self._apply_zero_params(attached)
        return None
