"""A viewer panel: one piece of the explorer page, contributed by a plugin.

Plugins register panels through ``register_viewer_panels``; the explorer mounts each panel's routes
under ``/panels/<name>/``, serves its static folder at ``/panels/<name>/static/`` and loads its ES
modules and style sheets into the page region the panel names.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from relscope.core.errors import PanelError

if TYPE_CHECKING:  # importlib.resources.abc is Python >= 3.11
    from importlib.abc import Traversable

#: page regions of the explorer shell, in reading order
REGIONS: tuple[str, ...] = ("header", "left", "center", "right", "bottom")

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ASSET = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.-]*(/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$")


def _check_name(instance: Any, attribute: Any, value: str) -> None:
    if not isinstance(value, str) or not _NAME.match(value):
        raise PanelError(
            f"panel name {value!r}: expected lower-case letters, digits, '_' or '-' "
            "(it becomes the URL prefix /panels/<name>/)"
        )


def _check_region(instance: Any, attribute: Any, value: str) -> None:
    if value not in REGIONS:
        raise PanelError(
            f"panel {instance.name!r}: region {value!r} is not one of {', '.join(REGIONS)}"
        )


def _check_assets(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    for asset in value:
        if not isinstance(asset, str) or not _ASSET.match(asset) or ".." in asset.split("/"):
            raise PanelError(
                f"panel {instance.name!r}: {attribute.name} entry {asset!r} must be a relative "
                "file name inside the panel's static folder"
            )
    if value and instance.static is None:
        raise PanelError(f"panel {instance.name!r}: {attribute.name} given but no static folder")


def _as_tuple(value: Sequence[Any] | None) -> tuple[Any, ...]:
    return tuple(value or ())


@attrs.frozen
class Panel:
    """One explorer panel: where it sits, which routes and static files it brings.

    ``static`` is a folder (an ``importlib.resources`` traversable or a path) whose files are
    served at ``/panels/<name>/static/``; ``js`` names the ES modules in it that the page imports
    (each exports ``mount(element, context)``), ``css`` the style sheets it links.
    """

    name: str = attrs.field(validator=_check_name)
    region: str = attrs.field(validator=_check_region)
    routes: tuple[Any, ...] = attrs.field(default=(), converter=_as_tuple)
    static: Traversable | os.PathLike[str] | None = None
    js: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_assets)
    css: tuple[str, ...] = attrs.field(default=(), converter=_as_tuple, validator=_check_assets)
    description: str = ""
    order: int = 100

    @property
    def prefix(self) -> str:
        """The URL prefix of this panel's routes."""
        return f"/panels/{self.name}"

    def asset_urls(self) -> dict[str, list[str]]:
        """The URLs of this panel's ES modules and style sheets."""
        return {
            "js": [f"{self.prefix}/static/{name}" for name in self.js],
            "css": [f"{self.prefix}/static/{name}" for name in self.css],
        }

    @classmethod
    def for_package(
        cls, package: str, *, region: str, description: str, order: int = 100, **more: Any
    ) -> Callable[[Callable[..., None]], None]:
        """The ``register_viewer_panels`` hook of a panel package laid out the usual way: named
        after its last package component, with ``static/<name>.js`` (and ``<name>.css`` when it
        exists) in the package. ``more`` passes other fields (``routes``, extra ``js``)."""
        import importlib.resources

        from relscope.core.hookspecs import hookimpl

        name = package.rsplit(".", 1)[-1]
        static = importlib.resources.files(package) / "static"
        js = (f"{name}.js", *more.pop("js", ()))
        css = (f"{name}.css",) if (static / f"{name}.css").is_file() else ()
        panel = cls(
            name=name,
            region=region,
            static=static,
            js=js,
            css=(*css, *more.pop("css", ())),
            description=description,
            order=order,
            **more,
        )

        @hookimpl
        def register_viewer_panels(register: Callable[..., None]) -> None:
            """Contribute the package's panel."""
            register(panel)

        register_viewer_panels.panel = panel  # type: ignore[attr-defined]
        return register_viewer_panels
