"""Canonizers: temporary, exactly reversible rewrites of a model into a form the rules handle.

A canonizer rewrites a model in place in :meth:`Canonizer.register` (e.g. merges batch norm into the
preceding linear layer, or makes a residual addition an explicit :class:`~relscope.core.attribution.
layers.Sum` module) and undoes every change in :meth:`Canonizer.remove`. Subclasses record their
changes with the helpers below, so that ``remove`` restores the very same objects and values.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from relscope.core.parameters import EchoesParameters

_MISSING = object()


def exact_identity(x: torch.Tensor) -> torch.Tensor:
    """A forward returning its input itself: canonizers install it on a layer they made an exact
    identity (a merged batch norm), so the layer costs no pass over its input, and rules that pass
    relevance through unchanged need not run on it."""
    return x


class Canonizer(EchoesParameters):
    """Base of all canonizers: ``register(model)`` rewrites, ``remove()`` restores exactly.

    One instance is applied to one model at a time; :meth:`copy` gives a fresh, unregistered one.
    The helpers :meth:`set_attribute`, :meth:`set_tensor_data` and :meth:`add_undo` record how to
    undo a change; the default :meth:`remove` replays those records in reverse order.
    """

    #: registry name (set by subclasses; used in messages)
    name: str = ""

    def __init__(self) -> None:
        self._undo: list[Callable[[], None]] = []

    # -- the interface --------------------------------------------------------------------------
    def register(self, model: nn.Module) -> None:
        """Rewrite ``model`` in place, recording how to undo every change."""
        raise NotImplementedError(f"{type(self).__name__} does not implement register()")

    def remove(self) -> None:
        """Undo every recorded change, most recent first; calling it twice is harmless."""
        errors: list[BaseException] = []
        while self._undo:
            undo = self._undo.pop()
            try:
                undo()
            except BaseException as exc:  # keep restoring the rest, re-raise the first failure
                errors.append(exc)
        if errors:
            raise errors[0]

    def copy(self) -> Canonizer:
        """A fresh, unregistered canonizer with the same settings."""
        clone = copy.copy(self)
        clone._undo = []
        return clone

    @property
    def registered(self) -> bool:
        """True while this canonizer holds changes that :meth:`remove` would undo."""
        return bool(self._undo)

    # -- helpers for subclasses -----------------------------------------------------------------
    def add_undo(self, undo: Callable[[], None]) -> None:
        """Remember ``undo`` to be called by :meth:`remove` (after later-recorded ones)."""
        self._undo.append(undo)

    def set_attribute(self, obj: Any, name: str, value: Any) -> None:
        """Set ``obj.<name> = value`` and record how to restore the previous state exactly.

        An attribute that lived in the instance ``__dict__`` gets its old object back; one that
        did not (e.g. a class-level ``forward``) is deleted again, so the class version shows.
        For modules, submodules/parameters/buffers go through ``setattr`` as usual.
        """
        instance_dict = getattr(obj, "__dict__", {})
        old = instance_dict.get(name, _MISSING)
        if isinstance(obj, nn.Module) and old is _MISSING:
            for store in ("_parameters", "_buffers", "_modules"):
                holder = obj.__dict__.get(store, {})
                if name in holder:
                    old_value = holder[name]
                    setattr(obj, name, value)

                    def restore(obj=obj, store=store, name=name, old_value=old_value) -> None:
                        if name in obj.__dict__:
                            del obj.__dict__[name]
                        for other in ("_parameters", "_buffers", "_modules"):
                            obj.__dict__[other].pop(name, None)
                        obj.__dict__[store][name] = old_value

                    self.add_undo(restore)
                    return
        setattr(obj, name, value)

        def undo(obj=obj, name=name, old=old) -> None:
            if old is _MISSING:
                if name in obj.__dict__:
                    delattr(obj, name)
                for store in ("_parameters", "_buffers", "_modules"):  # a new submodule etc.
                    obj.__dict__.get(store, {}).pop(name, None)
            else:
                obj.__dict__[name] = old

        self.add_undo(undo)

    def set_tensor_data(self, tensor: torch.Tensor, value: torch.Tensor) -> None:
        """Replace the data of ``tensor`` (e.g. a Parameter) by ``value``; restore the old storage.

        The tensor object keeps its identity (optimisers, hooks and references stay valid) and gets
        back its original storage, so values are bit-identical after :meth:`remove`.
        """
        old = tensor.data
        tensor.data = value

        def undo(tensor=tensor, old=old) -> None:
            tensor.data = old

        self.add_undo(undo)
