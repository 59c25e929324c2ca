"""Bad input that is caught before anything renders (no bpy): empty palettes."""
from __future__ import annotations

import pytest

from synth_humans_addon.core import presets
from synth_humans_addon.core.spec import SpecError
from synth_humans_addon.core.spec_io import spec_from_dict, spec_to_dict


def _with(mutate):
    d = spec_to_dict(presets.preset("tiny"))
    mutate(d)
    return d


def test_empty_custom_palette_is_refused_naming_it():
    def mutate(d):
        d["clothing"]["custom_palettes"] = {"team": []}
        d["clothing"]["palettes"] = {"team": 1.0}

    with pytest.raises(SpecError, match=r"clothing\.custom_palettes\.team: palette is empty"):
        spec_from_dict(_with(mutate))


def test_palette_table_without_weight_is_refused():
    def mutate(d):
        d["clothing"]["palettes"] = {}

    with pytest.raises(SpecError, match=r"clothing\.palettes: needs at least one choice"):
        spec_from_dict(_with(mutate))
