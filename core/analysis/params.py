"""Typed, validated processor parameters: ``Param(int, 8, check=at_least(1))``.

A parameter is an ``attrs`` field whose metadata says whether it identifies the result (and so is
part of the cache key). Type and value errors name the processor class and the parameter.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import attrs

from relscope.core.errors import ProcessorError

#: metadata key: does this field identify the result (part of the cache key)? Default True.
IDENTIFYING = "identifying"
#: metadata key: one-line help text of a parameter
HELP = "help"

Check = Callable[[Any], "str | None"]


def _type_name(types: tuple[type, ...]) -> str:
    return " or ".join("None" if t is type(None) else t.__name__ for t in types)


def _converter(types: tuple[type, ...], user: Callable[[Any], Any] | None) -> Callable[[Any], Any]:
    def convert(value: Any) -> Any:
        if user is not None:
            value = user(value)
        if float in types and isinstance(value, int) and not isinstance(value, bool):
            return float(value)  # an int is a fine float
        if tuple in types and isinstance(value, (list, range)):
            return tuple(value)
        return value

    return convert


def _validator(types: tuple[type, ...] | None, check: Check | None) -> Callable[..., None]:
    def validate(instance: Any, attribute: attrs.Attribute, value: Any) -> None:
        owner = type(instance).__name__
        if types is not None:
            wrong_bool = isinstance(value, bool) and bool not in types
            if wrong_bool or not isinstance(value, types):
                raise ProcessorError(
                    f"{owner}: parameter {attribute.name!r} must be {_type_name(types)}, "
                    f"got {value!r} ({type(value).__name__})"
                )
        if check is not None and value is not None:
            problem = check(value)
            if problem:
                raise ProcessorError(
                    f"{owner}: parameter {attribute.name!r} {problem}, got {value!r}"
                )

    return validate


def Param(  # noqa: N802 - reads like a field declaration
    type_: type | tuple[type, ...] | None,
    default: Any = attrs.NOTHING,
    *,
    identifying: bool = True,
    check: Check | None = None,
    converter: Callable[[Any], Any] | None = None,
    help: str = "",
    kw_only: bool = False,
) -> Any:
    """Declare a processor parameter of ``type_`` (None: any type) that ``check`` may restrict."""
    types = None if type_ is None else (type_ if isinstance(type_, tuple) else (type_,))
    return attrs.field(
        default=default,
        converter=_converter(types or (), converter),
        validator=_validator(types, check),
        metadata={IDENTIFYING: identifying, HELP: help},
        kw_only=kw_only,
    )


def at_least(low: float) -> Check:
    """Check: the value is ``>= low`` (every item, for a tuple)."""

    def check(value: Any) -> str | None:
        items = value if isinstance(value, tuple) else (value,)
        return f"must be >= {low}" if any(item < low for item in items) else None

    return check


def greater_than(low: float) -> Check:
    """Check: the value is ``> low``."""
    return lambda value: None if value > low else f"must be > {low}"


def one_of(*choices: Any) -> Check:
    """Check: the value is one of ``choices``."""
    return lambda value: None if value in choices else f"must be one of {list(choices)}"


def non_empty_ints(low: int) -> Check:
    """Check: a non-empty tuple of ints, each ``>= low``."""

    def check(value: Sequence[Any]) -> str | None:
        if not value or not all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return "must be a non-empty sequence of ints"
        return f"must hold ints >= {low}" if min(value) < low else None

    return check


def is_identifying(field: attrs.Attribute) -> bool:
    """Whether ``field`` is part of the cache key (fields say so in their metadata; default yes)."""
    return bool(field.metadata.get(IDENTIFYING, True))
