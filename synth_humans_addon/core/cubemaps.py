"""Built-in cubemaps: procedurally generated environments so everything works offline.

The images are generated on first use into a cache folder (`cubemap_folder`), with the
usual posx/negx/posy/negy/posz/negz face names (Humus' naming), so a built-in cubemap is
used exactly like one a user downloaded.
"""
from __future__ import annotations

# Names of the built-in environments (`builtin:<name>` in a spec; `builtin:all` = every one).
BUILTIN_CUBEMAPS = ("street", "plaza", "corridor", "park")
