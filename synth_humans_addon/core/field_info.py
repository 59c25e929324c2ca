"""What the add-on shows for each spec field: label, tooltip, slider limits, catalogue.

Pure data (no bpy), keyed by the field's dotted path in the spec ("camera.radius"). The
property groups in `ui/props.py` are generated from the spec dataclasses and look up their
label and tooltip here, so a field added to `core/spec.py` appears in the UI on its own;
`tests/addon/test_build.py` fails until it is given a real tooltip here.

Slider limits are *soft* (where the slider stops): typing a value outside them is allowed
and then checked by `validate_spec`, so the artist sees the spec validation's own message.
"""
from __future__ import annotations

from dataclasses import dataclass

from . import spec as S


@dataclass(frozen=True)
class FieldInfo:
    label: str
    description: str
    soft_min: float | None = None
    soft_max: float | None = None
    # Weight tables: the names the "+" button offers ("*palettes" adds custom palette names).
    catalogue: tuple[str, ...] = ()
    # Scalar string fields with a fixed set of values are drawn as drop-downs.
    choices: tuple[str, ...] = ()
    # Weight tables: True = probabilities (sum ≤ 1, remainder = none), False = relative weights.
    probabilities: bool = False
    unit: str = ""


_P = dict(soft_min=0.0, soft_max=1.0)

FIELDS: dict[str, FieldInfo] = {
    # ---- dataset
    "dataset.name": FieldInfo("Name", "Name of the dataset, written to dataset.json"),
    "dataset.seed": FieldInfo("Seed", "Master random seed: the same spec and seed always give the same dataset",
                              soft_min=0),
    "dataset.characters": FieldInfo("Characters", "Number of distinct people (identities) in the dataset",
                                    soft_min=1, soft_max=9999),
    "dataset.images_per_character": FieldInfo("Images per Character",
                                              "Images rendered of each person, each from its own camera and pose",
                                              soft_min=1, soft_max=999),
    "dataset.test_characters": FieldInfo("Test Characters",
                                         "People kept for the test split (query + gallery); the rest train",
                                         soft_min=0),
    "dataset.validation_characters": FieldInfo("Validation Characters",
                                               "People kept for the validation split", soft_min=0),
    "dataset.camera_id_mode": FieldInfo("Camera Id From",
                                        "Which viewpoint angle becomes the Market-1501 camera id c<N>",
                                        choices=S.CAMERA_ID_MODES),
    "dataset.camera_id_bins": FieldInfo("Camera Id Bins", "Number of angle bins, i.e. camera ids 1..N (at most 9)",
                                        soft_min=1, soft_max=9),
    # ---- character
    "character.age_years": FieldInfo("Age (years)", "Range of ages in years (1–90)", 1.0, 90.0),
    "character.male_fraction": FieldInfo("Male Fraction", "Probability that a person is male", **_P),
    "character.gender_strength": FieldInfo("Gender Strength",
                                           "How strongly male/female a body is (0.5 = androgynous, 1 = fully)",
                                           0.5, 1.0),
    "character.weight": FieldInfo("Mass", "Body mass macro (0 = thin, 0.5 = average, 1 = heavy)", **_P),
    "character.muscle": FieldInfo("Muscle", "Muscle macro (0 = little, 1 = very muscular)", **_P),
    "character.height": FieldInfo("Height", "Height macro (0 = short, 1 = tall)", **_P),
    "character.proportions": FieldInfo("Proportions", "Body proportions macro (0 = unusual, 1 = idealised)", **_P),
    "character.ethnicity": FieldInfo("Skin / Ethnicity Mix",
                                     "Dirichlet concentration of each ethnicity (drives skin tone and face shape)",
                                     0.0, 10.0, catalogue=S.ETHNICITIES),
    # ---- pose
    "pose.sources": FieldInfo("Pose Sources", "Relative weight of each way of posing a person",
                              0.0, 1.0, catalogue=S.POSE_SOURCES),
    "pose.bvh_files": FieldInfo("BVH Files", "Motion-capture clips used by the 'bvh' pose source"),
    "pose.stride": FieldInfo("Stride", "Stride scale of the procedural walk", 0.0, 2.0),
    "pose.arm_swing": FieldInfo("Arm Swing", "Arm swing scale of the procedural walk", 0.0, 3.0),
    # ---- clothing
    "clothing.tops": FieldInfo("Tops", "Probability of each top; the remainder is no top",
                               catalogue=S.TOP_KINDS, probabilities=True, **_P),
    "clothing.bottoms": FieldInfo("Bottoms", "Probability of each bottom; the remainder is no bottom",
                                  catalogue=S.BOTTOM_KINDS, probabilities=True, **_P),
    "clothing.male_bottoms": FieldInfo("Men's Bottoms",
                                       "Probability of each bottom for men (gender > 0.5); empty = as Bottoms",
                                       catalogue=S.BOTTOM_KINDS, probabilities=True, **_P),
    "clothing.shoes": FieldInfo("Shoes", "Probability of each kind of shoe; the remainder is barefoot",
                                catalogue=S.SHOE_KINDS, probabilities=True, **_P),
    "clothing.palettes": FieldInfo("Palettes", "Relative weight of each colour palette for garments",
                                   catalogue=S.BUILTIN_PALETTES + ("*palettes",), **_P),
    "clothing.textures": FieldInfo("Texture Kinds", "Relative weight of each fabric pattern",
                                   catalogue=S.TEXTURE_KINDS, **_P),
    "clothing.top_palettes": FieldInfo("Top Palettes", "Relative weight of each colour palette for tops; "
                                       "empty = as Palettes", catalogue=S.BUILTIN_PALETTES + ("*palettes",), **_P),
    "clothing.bottom_palettes": FieldInfo("Bottom Palettes", "Relative weight of each colour palette for trousers, "
                                          "shorts and skirts; empty = as Palettes",
                                          catalogue=S.BUILTIN_PALETTES + ("*palettes",), **_P),
    "clothing.top_textures": FieldInfo("Top Textures", "Relative weight of each fabric pattern on tops; "
                                       "empty = as Texture Kinds", catalogue=S.TEXTURE_KINDS, **_P),
    "clothing.bottom_textures": FieldInfo("Bottom Textures", "Relative weight of each fabric pattern on trousers, "
                                          "shorts and skirts; empty = as Texture Kinds",
                                          catalogue=S.TEXTURE_KINDS, **_P),
    "clothing.texture_scale": FieldInfo("Texture Scale", "Scale of fabric patterns (1 = natural size)", 0.05, 20.0),
    "clothing.jeans": FieldInfo("Jeans", "Probability that trousers and shorts are jeans (denim colour and texture)",
                                **_P),
    "clothing.shoe_palettes": FieldInfo("Shoe Palettes", "Relative weight of each colour palette for shoes",
                                        catalogue=S.BUILTIN_PALETTES + ("*palettes",), **_P),
    "clothing.custom_palettes": FieldInfo("Custom Palettes",
                                          "Your own palettes: a name and its colours, usable in any palette table"),
    # ---- hair
    "hair.styles": FieldInfo("Hair Styles", "Probability of each hair style; the remainder is bald/very short",
                             catalogue=S.HAIR_STYLES, probabilities=True, **_P),
    "hair.male_styles": FieldInfo("Men's Hair Styles",
                                  "Probability of each hair style for men (gender > 0.5); empty = as Hair Styles",
                                  catalogue=S.HAIR_STYLES, probabilities=True, **_P),
    "hair.palettes": FieldInfo("Hair Palettes", "Relative weight of each hair colour palette",
                               catalogue=S.BUILTIN_HAIR_PALETTES + ("*palettes",), **_P),
    "hair.volume": FieldInfo("Hair Volume", "Thickness of the hair over the scalp and of long hair (1 = sleek)",
                             0.5, 3.0),
    "hair.ragged": FieldInfo("Ragged Ends", "How unevenly medium and long hair ends (locks of ± this × 10 cm)",
                             0.0, 1.0),
    # ---- accessories
    "accessories.backpack": FieldInfo("Backpack", "Probability of carrying a backpack", **_P),
    "accessories.shoulder_bag": FieldInfo("Shoulder Bag", "Probability of carrying a shoulder bag", **_P),
    "accessories.cap": FieldInfo("Cap", "Probability of wearing a cap", **_P),
    "accessories.hat": FieldInfo("Hat", "Probability of wearing a hat (never together with a cap)", **_P),
    "accessories.glasses": FieldInfo("Glasses", "Probability of wearing glasses", **_P),
    "accessories.palettes": FieldInfo("Accessory Palettes", "Relative weight of each palette for accessories",
                                      catalogue=S.BUILTIN_PALETTES + ("*palettes",), **_P),
    # ---- background
    "background.kind": FieldInfo("Background", "fixed: one of the colours below; varied: random plain walls; "
                                 "cubemap: six-face environment images; equirectangular: panoramas",
                                 choices=S.BACKGROUND_KINDS),
    "background.colors": FieldInfo("Colours", "Background colours ('#rrggbb') for the 'fixed' kind"),
    "background.value": FieldInfo("Wall Value", "HSV value (brightness) range of walls for the 'varied' kind",
                                  **_P),
    "background.saturation": FieldInfo("Wall Saturation", "HSV saturation range of walls for the 'varied' kind",
                                       **_P),
    "background.cubemaps": FieldInfo("Cubemaps", "Folders with posx/negx/posy/negy/posz/negz images, "
                                     "or builtin:<name> (builtin:all = every built-in one)"),
    "background.equirectangular": FieldInfo("Panoramas", "Equirectangular image files for that kind"),
    "background.room_size": FieldInfo("Room Size", "Side of the room cuboid in metres (must exceed 2·R)",
                                      1.0, 100.0, unit="m"),
    "background.structures": FieldInfo("Structures", "Expected number of walls, pillars, railings and benches "
                                       "around each person (0.5 = every other person)",
                                       catalogue=S.STRUCTURE_KINDS, soft_min=0.0, soft_max=4.0),
    "background.structure_distance": FieldInfo("Structure Distance", "Distance of structures from the person, metres",
                                               0.6, 10.0),
    "background.per_image": FieldInfo("Room per Image", "Draw the room and its structures anew for every image "
                                      "(off: one per character, a cue to the identity that real cameras do not "
                                      "give)"),
    "background.passers_by": FieldInfo("Passers-by", "Expected number of other people walking behind each "
                                       "person (never in its mask)", 0.0, 4.0),
    "background.occluders": FieldInfo("Occluders", "Expected number of other people partly in front of each "
                                      "person (never in its mask)", 0.0, 4.0),
    "background.people_pool": FieldInfo("People Pool", "Distinct other people per dataset: each worker builds "
                                        "each at most once and reuses it", 1, 256),
    "background.passer_by_distance": FieldInfo("Passer-by Distance", "Distance of passers-by behind the "
                                               "person, metres", 0.5, 20.0),
    # ---- camera
    "camera.radius": FieldInfo("R", "Distance R of the cameras from the person's mid-height, in metres",
                               0.5, 50.0, unit="m"),
    "camera.theta1_deg": FieldInfo("θ1", "Upper edge of the camera segment: polar angle from the zenith in "
                                   "degrees (0 = straight above)", 0.0, 90.0),
    "camera.theta2_deg": FieldInfo("θ2", "Lower edge of the camera segment: polar angle from the zenith in "
                                   "degrees (90 = level with mid-height)", 0.0, 90.0),
    "camera.focal_length_mm": FieldInfo("Focal Length", "Lens focal length in millimetres", 1.0, 300.0),
    "camera.sensor_width_mm": FieldInfo("Sensor Width", "Sensor width in millimetres", 1.0, 100.0),
    "camera.aim_jitter_deg": FieldInfo("Aim Jitter", "Random error of the camera's aim at the body, degrees",
                                       0.0, 20.0),
    "camera.radius_jitter": FieldInfo("R Jitter", "Relative random change of R (0.1 = ±10 %)", 0.0, 0.99),
    # ---- box (detector-like crops)
    "box.scale": FieldInfo("Box Scale", "Size of the crop's box relative to the tight person box", 0.5, 2.0),
    "box.aspect": FieldInfo("Box Aspect", "Width of the crop's box relative to the tight box (< 1 = tighter)",
                            0.3, 3.0),
    "box.shift_x": FieldInfo("Box Shift X", "Sideways shift of the box centre, as a fraction of its width",
                             -0.5, 0.5),
    "box.shift_y": FieldInfo("Box Shift Y", "Vertical shift of the box centre, fraction of its height (+ = down)",
                             -0.5, 0.5),
    "box.truncate_head": FieldInfo("Cut Head", "Probability that the box cuts into the head", **_P),
    "box.truncate_feet": FieldInfo("Cut Feet", "Probability that the box cuts off the feet", **_P),
    "box.truncate_fraction": FieldInfo("Cut Amount", "Fraction of the person's height a cut removes", 0.0, 0.4),
    "box.output_aspect": FieldInfo("Output Aspect", "Height/width of every crop (CUHK03: 3.4); 0 = follow the box",
                                   0.0, 8.0),
    # ---- lighting
    "lighting.kinds": FieldInfo("Light Kinds", "Relative weight of sun and area lights",
                                catalogue=S.LIGHT_KINDS, **_P),
    "lighting.strength": FieldInfo("Strength", "Sun strength in W/m² (area lights are scaled from it)", 0.0, 20.0),
    "lighting.color_temperature_k": FieldInfo("Colour Temperature", "Light colour temperature in kelvin",
                                              1000.0, 20000.0),
    "lighting.elevation_deg": FieldInfo("Elevation", "Elevation of the light above the horizon, degrees",
                                        0.0, 90.0),
    "lighting.world_strength": FieldInfo("World Strength", "Strength of the ambient (world) light", 0.0, 5.0),
    # ---- render
    "render.engine": FieldInfo("Engine", "Render engine", choices=S.ENGINES),
    "render.device": FieldInfo("Device", "Cycles device: cpu or gpu", choices=S.DEVICES),
    "render.samples": FieldInfo("Samples", "Path-tracing samples per pixel", 1, 512),
    "render.max_bounces": FieldInfo("Max Bounces", "Maximum light bounces", 0, 12),
    "render.adaptive_threshold": FieldInfo("Noise Threshold", "Adaptive sampling noise threshold (0 = off)",
                                           0.0, 1.0),
    "render.denoiser": FieldInfo("Denoiser", "Denoiser applied to each render", choices=S.DENOISERS),
    "render.denoiser_prefilter": FieldInfo("Denoiser Prefilter", "Prefilter of the denoiser's guiding passes",
                                           choices=S.DENOISER_PREFILTERS),
    "render.crop_height": FieldInfo("Crop Height", "Height of each person crop in pixels (width follows the body)",
                                    16, 1024),
    "render.margin": FieldInfo("Margin", "Relative margin around the person's projected box", 0.0, 0.5),
    "render.threads": FieldInfo("Threads", "Render threads (0 = all cores)", 0, 64),
    # ---- postprocess (camera-model degradations)
    "postprocess.noise_std": FieldInfo("Sensor Noise", "Gaussian sensor noise σ on the [0, 1] scale", 0.0, 0.2),
    "postprocess.blur_sigma": FieldInfo("Blur", "Gaussian blur σ in pixels", 0.0, 5.0),
    "postprocess.jpeg_quality": FieldInfo("JPEG Quality", "JPEG quality of the saved crop (1–100)", 1.0, 100.0),
    "postprocess.downscale": FieldInfo("Downscale", "Down-then-up scaling factor (1 = none): low-resolution cameras",
                                       1.0, 4.0),
    "postprocess.color_cast": FieldInfo("Colour Cast", "Spread of per-channel gains (white-balance errors)",
                                        0.0, 0.2),
    "postprocess.exposure": FieldInfo("Exposure", "Brightness gain of the camera (1 = as rendered)", 0.25, 4.0),
    "postprocess.contrast": FieldInfo("Contrast", "Contrast around the image's mean (1 = as rendered, > 1 = harder)",
                                      0.25, 4.0),
    # ---- top level (kept for the round trip; not drawn)
    "version": FieldInfo("Spec Version", "Version of the spec format"),
    "base_dir": FieldInfo("Base Folder", "Folder that relative paths in the spec are resolved against"),
}

# Tooltips of the parts of compound properties.
RANGE_LOW = "Lowest value of {label}"
RANGE_HIGH = "Highest value of {label}"
RANGE_DISTRIBUTION = "How {label} is drawn: uniform, or normal centred in the range (σ = width/4)"
WEIGHT_NAME = "Name of the choice (one of: {names})"
WEIGHT_VALUE = "{kind} of this choice in {label}"
LIST_ITEM = "One entry of {label}"


def info(path: str) -> FieldInfo:
    """Metadata of a spec field; a field missing here still gets a tooltip naming it."""
    return FIELDS.get(path) or FieldInfo(path.rsplit(".", 1)[-1].replace("_", " ").title(), f"Spec field {path}")
