"""The built-in colour maps: the spec's maps plus ViRelAy's names, written in our colour-map language.

ViRelAy's maps are re-expressed as specs for its symmetric mapping (-max|R| at 00, 0 at 80, +max|R|
at ff). ``seismic`` exists once, as the spec's ``0000d0,80:d0d0d0,d00000`` (ViRelAy's matplotlib
``seismic`` is a darker blue-white-red; use ``blue-white-red`` or a spec for that look).
"""

from __future__ import annotations

from typing import Any

from relscope.core import hookimpl
from relscope.core.colormap import parse_colormap

#: name -> (spec, description)
BUILTIN_COLORMAPS: dict[str, tuple[str, str]] = {
    "gray": ("000,fff", "black to white"),
    "wred": ("fff,f00", "white to red (absolute relevance)"),
    "wblue": ("fff,00f", "white to blue (absolute relevance)"),
    "hot": ("000,f00,ff0,fff", "black, red, yellow, white"),
    "cold": ("000,00f,0ff", "black, blue, cyan"),
    "coldnhot": (
        "0ff,00f,80:000,f00,ff0,fff",
        "negative cold (cyan, blue), zero black, positive hot",
    ),
    "bwr": ("00f,80:fff,f00", "blue, white at zero, red"),
    "france": ("0055a4,80:fff,ef4135", "French flag blue, white at zero, red"),
    "seismic": ("0000d0,80:d0d0d0,d00000", "muted blue, light grey at zero, muted red"),
    "coolio": ("00d0d0,80:d0d0d0,d000d0", "cyan, light grey at zero, magenta"),
    "coleus": ("00d000,80:d0d0d0,d000d0", "green, light grey at zero, magenta"),
    # ViRelAy's names (explorer compatibility), re-expressed as specs
    "black-fire-red": (
        "fff,40:0ff,60:00f,80:000,a0:f00,c0:ff0,fff",
        "ViRelAy default: white, cyan, blue, black at zero, red, yellow, white",
    ),
    "gray-red": ("00f,80:ccc,f00", "ViRelAy: blue, grey 0.8 at zero, red"),
    "black-green": ("00f,80:000,0f0", "ViRelAy: blue, black at zero, green"),
    "black-yellow": ("00f,80:000,ff0", "ViRelAy: blue, black at zero, yellow"),
    "blue-white-red": ("00f,80:fff,f00", "ViRelAy (matplotlib bwr): blue, white at zero, red"),
    "afm-hot": (
        "000,40:800000,80:ff8000,c0:ffff80,fff",
        "ViRelAy (matplotlib afmhot): black, dark red, orange, pale yellow, white",
    ),
    "jet": (
        "000080,1c:0000ff,57:00dbff,59:00e5f7,60:15ffe2,a3:efff08,a6:f7f600,a8:ffec00,"
        "e3:ff1300,e8:e80000,800000",
        "ViRelAy (matplotlib jet): dark blue, blue, cyan, yellow, red, dark red",
    ),
}


@hookimpl
def register_colormaps(register: Any) -> None:
    """Register every built-in colour map as a parsed ColorMap with a one-line description."""
    for name, (spec, description) in BUILTIN_COLORMAPS.items():
        register(name, parse_colormap(spec, name=name), description=f"{description} ({spec})")
