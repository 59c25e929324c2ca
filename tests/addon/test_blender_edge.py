"""`blender/` is the adapter and only translates: every module in it imports bpy, mathutils or
bmesh; code that needs none of them lives in `core/` or `shapes/` (read from the source, no bpy)."""
import ast
from pathlib import Path

BLENDER = Path(__file__).resolve().parents[2] / "synth_humans_addon" / "blender"
BPY_MODULES = {"bpy", "mathutils", "bmesh"}


def _top_level_imports(tree: ast.Module) -> set[str]:
    names = set()
    for node in tree.body:
        if isinstance(node, ast.Import):
            names |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names.add(node.module.split(".")[0])
    return names


def _defines_nothing(tree: ast.Module) -> bool:
    """A package's docstring-only __init__."""
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in tree.body)


def test_every_blender_module_imports_bpy():
    modules = sorted(BLENDER.rglob("*.py"))
    assert len(modules) > 15
    free = []
    for path in modules:
        tree = ast.parse(path.read_text(encoding="utf-8"))
        if not (_top_level_imports(tree) & BPY_MODULES or _defines_nothing(tree)):
            free.append(str(path.relative_to(BLENDER)))
    assert free == []
