"""The shapes of what a character wears and what stands around it, as numpy meshes (no bpy).

Garments cut from the base mesh's helpers (`garment_regions`, `garments`), hair (`hair`),
accessories (`accessories`), a whole outfit at once (`outfit_geometry`), the room's box
(`room`) and the structures around the person (`structures`). `blender/` turns these
shapes into Blender objects; everything here runs and is tested without Blender.
"""
