"""Parameters of every registered kind, read one way: names, types and defaults for listings and
binding, a repr that echoes what differs from the defaults, and declarative checks.

Processors declare attrs ``Param`` fields (:mod:`relscope.core.analysis.params`); rules,
composites, attributors and canonizers are plain classes whose typed ``__init__`` is their
declaration, checked with :func:`check_params`. Both are listed by :func:`parameters_of`.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from typing import Any

import attrs

from relscope.core.errors import ParameterError

#: a check returns None when the value is fine, else what is wrong ("must be >= 1")
Check = Callable[[Any], "str | None"]
#: constructor arguments that are the object's inputs rather than its configuration
RUNTIME_ARGUMENTS = ("self", "model", "composite")


@attrs.frozen
class Parameter:
    """One accepted parameter: its name, type (as written), default, and whether it is required."""

    name: str
    type: str
    default: Any = None
    required: bool = False
    help: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form for ``relscope list KIND --json``."""
        default = self.default
        if not isinstance(default, (bool, int, float, str, type(None), list)):
            default = repr(default)
        elif isinstance(default, float) and not math.isfinite(default):
            default = repr(default)
        return {"name": self.name, "type": self.type, "default": default, "required": self.required}


def _type_text(annotation: Any) -> str:
    if annotation is inspect.Parameter.empty:
        return "any"
    if isinstance(annotation, str):
        return annotation
    return getattr(annotation, "__name__", None) or str(annotation).replace("typing.", "")


def parameters_of(obj: Any) -> dict[str, Parameter]:
    """The configuration parameters of a class or factory (an instance has none to pass)."""
    if not (inspect.isclass(obj) or inspect.isroutine(obj)):
        return {}
    if inspect.isclass(obj) and attrs.has(obj):
        return {
            field.name: Parameter(
                field.name,
                _type_text(field.type),
                None if field.default is attrs.NOTHING else field.default,
                field.default is attrs.NOTHING,
                field.metadata.get("help", ""),
            )
            for field in attrs.fields(obj)
            if field.init
        }
    try:
        signature = inspect.signature(obj)
    except (TypeError, ValueError):
        return {}
    found = {}
    for p in signature.parameters.values():
        if p.name in RUNTIME_ARGUMENTS or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        required = p.default is inspect.Parameter.empty
        found[p.name] = Parameter(
            p.name, _type_text(p.annotation), None if required else p.default, required
        )
    return found


def _differs(value: Any, default: Any) -> bool:
    try:
        return bool(value != default)
    except Exception:  # tensors and other values without a plain truth value
        return value is not default


class EchoesParameters:
    """``repr`` that echoes the constructor parameters differing from their defaults
    (scikit-learn's habit); a parameter is read back from the attribute of the same name."""

    def __repr__(self) -> str:
        parts = []
        for parameter in parameters_of(type(self)).values():
            if not hasattr(self, parameter.name):
                continue
            value = getattr(self, parameter.name)
            if parameter.required or _differs(value, parameter.default):
                parts.append(f"{parameter.name}={value!r}")
        composite = getattr(self, "composite", None)
        if composite is not None:
            parts.append(f"composite={composite!r}")
        return f"{type(self).__name__}({', '.join(parts)})"


def int_at_least(low: int) -> Check:
    """Check: an int (never a bool) that is ``>= low``."""

    def check(value: Any) -> str | None:
        ok = isinstance(value, int) and not isinstance(value, bool) and value >= low
        return None if ok else f"must be an int >= {low}"

    return check


def finite_at_least(low: float) -> Check:
    """Check: a finite int or float (never a bool) that is ``>= low``."""

    def check(value: Any) -> str | None:
        ok = (
            isinstance(value, (int, float))
            and not isinstance(value, bool)
            and math.isfinite(value)
            and value >= low
        )
        return None if ok else f"must be a finite number >= {low:g}"

    return check


def optional(check: Check) -> Check:
    """Check: None, or a value that passes ``check``."""
    return lambda value: None if value is None else check(value)


def check_params(owner: str, error: type[Exception] = ParameterError, **checks: Any) -> None:
    """Apply ``name=(value, check)`` pairs; the first problem raises ``error`` naming the owner,
    the parameter and the value: ``smoothgrad: n_iter must be >= 1, got 0``."""
    for name, (value, check) in checks.items():
        problem = check(value)
        if problem:
            raise error(f"{owner}: {name} {problem}, got {value!r}")
