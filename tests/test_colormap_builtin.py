"""Built-in colour maps: all of the spec's and ViRelAy's names, registered and well-formed."""

from __future__ import annotations

import numpy as np
import pytest

from relscope.core import hookimpl
from relscope.core.cli.main import main
from relscope.core.colormap import ColorMap, get_colormap, parse_colormap
from relscope.core.plugin_manager import RelscopePluginManager
from relscope.core.registry import get_registry

SPEC_MAPS = {
    "gray": "000,fff",
    "wred": "fff,f00",
    "wblue": "fff,00f",
    "hot": "000,f00,ff0,fff",
    "cold": "000,00f,0ff",
    "coldnhot": "0ff,00f,80:000,f00,ff0,fff",
    "bwr": "00f,80:fff,f00",
    "france": "0055a4,80:fff,ef4135",
    "seismic": "0000d0,80:d0d0d0,d00000",
    "coolio": "00d0d0,80:d0d0d0,d000d0",
    "coleus": "00d000,80:d0d0d0,d000d0",
}
VIRELAY_MAPS = [
    "black-fire-red",
    "gray-red",
    "black-green",
    "black-yellow",
    "blue-white-red",
    "afm-hot",
    "jet",
    "seismic",
]


@pytest.mark.parametrize("name", sorted(set(SPEC_MAPS) | set(VIRELAY_MAPS)))
def test_every_builtin_is_registered_with_a_256_entry_lut(name):
    registry = get_registry("colormaps")
    entry = registry.get_entry(name)
    assert entry.description
    cmap = get_colormap(name)
    assert isinstance(cmap, ColorMap) and cmap.name == name
    assert cmap.lut.shape == (256, 3) and cmap.lut.dtype == np.uint8
    assert parse_colormap(cmap.spec) == cmap  # the registered spec re-parses to the same LUT


@pytest.mark.parametrize(("name", "spec"), sorted(SPEC_MAPS.items()))
def test_spec_maps_use_the_specs_definitions(name, spec):
    assert get_colormap(name).spec == spec


def test_virelay_maps_match_virelay_colours_at_key_points():
    # ViRelAy colours -max|R|, 0 and +max|R| (indices 0, 128, 255 under symmetric normalisation)
    expected = {
        "black-fire-red": ([255, 255, 255], [0, 0, 0], [255, 255, 255]),
        "gray-red": ([0, 0, 255], [204, 204, 204], [255, 0, 0]),
        "black-green": ([0, 0, 255], [0, 0, 0], [0, 255, 0]),
        "black-yellow": ([0, 0, 255], [0, 0, 0], [255, 255, 0]),
        "blue-white-red": ([0, 0, 255], [255, 255, 255], [255, 0, 0]),
        "afm-hot": ([0, 0, 0], [255, 128, 0], [255, 255, 255]),
        "jet": ([0, 0, 128], [0x80, 0xFF, 0x80], [128, 0, 0]),
    }
    for name, (low, mid, high) in expected.items():
        lut = get_colormap(name).lut
        assert lut[0].tolist() == low, name
        assert lut[255].tolist() == high, name
        assert np.abs(lut[128].astype(int) - mid).max() <= 8, name
    fire = get_colormap("black-fire-red").lut
    assert fire[0x40].tolist() == [0, 255, 255] and fire[0xC0].tolist() == [255, 255, 0]


def test_list_colormaps_prints_every_builtin(capsys):
    assert main(["list", "colormaps"]) == 0
    out = capsys.readouterr().out
    names = {line.split()[0] for line in out.splitlines()[2:] if line.strip()}
    assert set(SPEC_MAPS) | set(VIRELAY_MAPS) <= names


class _ThirdPartyMaps:
    """A plugin object registering a spec string and a bare LUT, as DESIGN allows."""

    @hookimpl
    def register_colormaps(self, register):
        register("step", "000,80:000,80:fff,fff", description="hard step at the middle")
        register("ramp-lut", np.linspace(0.0, 1.0, 256)[:, None].repeat(3, axis=1))


def test_plugins_may_register_specs_or_luts():
    pm = RelscopePluginManager(strict=True)
    pm.register(_ThirdPartyMaps(), name="third-party")
    step = get_colormap("step", pm=pm)
    assert step.name == "step" and step.spec == "000,80:000,80:fff,fff"
    assert step.lut[0x7F].tolist() == [0, 0, 0] and step.lut[0x80].tolist() == [255, 255, 255]
    ramp = get_colormap("ramp-lut", pm=pm)
    assert ramp.spec is None and ramp.lut[:, 1].tolist() == list(range(256))
    assert get_registry("colormaps", pm).get_entry("step").description == "hard step at the middle"
