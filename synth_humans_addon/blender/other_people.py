"""Other people in the target's images: passers-by behind it, occluders partly in front.

Real crops show neighbours, their arms and bags; ours showed one person alone. Each
`sampling.OtherPersonSample` is a member of the dataset's pool of other people, built by the
same builder as the target (`character.build_character`), posed once, rendered once into an
impostor card (`cards.CardStudio`) and then freed: in the target's images it is a textured
cut-out with pass index 0, so neither mask source counts it as the person (the Cryptomatte
mask names only the target's objects, the index-pass mask only pass index 1). Keypoint
visibility treats its cut-out as an occluder.

Cost is what shapes this module (issue 14: structures and people may add at most 30 % per
image). A session keeps every card it made, linked into the scene for good: per image the
members of that image are moved to their placements (sampled in the view frame,
`core.framing.view_to_world`) and turned to face the camera, the others parked under the
floor. Why cards: real members cost render time in every image they were linked into,
whatever their pixels. Measured (docs/generator.md, 160 px, against the same spec without
others): linking a different set of full members per image 1.71×; all of a character's
members linked with the absent ones parked 1.8× or invisible to rays 2.4×; each member
joined into one object and decimated to 5 % 1.86×. A card is one object, one small texture:
cards measured 1.11× (`benchmarks/bench_render.py`, median of 3).

What a card gives up: it shows its member from one side (the turn of the member's first
placement) and in one pose, shaded by the scene's light as a flat surface.
"""
from __future__ import annotations

import math
from typing import Any

import bpy
import numpy as np

from ..core.framing import view_to_world
from . import character as character_mod
from . import render as render_mod
from .cards import PARKED_Z, Card, CardStudio


class OtherPeople:
    """The cards a render session has made (by pool index), kept in the scene across characters."""

    def __init__(self, spec: Any, scene: Any) -> None:
        self.spec, self.scene = spec, scene
        self.studio = CardStudio(threads=int(spec.render.threads))
        self.cards: dict[int, Card] = {}  # pool index → its card, linked into `collection`
        self.collection: Any = None
        self.shown: list[tuple[Card, Any]] = []  # (card, this character's OtherPersonSample)

    def show(self, others: list[Any]) -> list[tuple[Card, Any]]:
        """Make sure every member in `others` (one character's) has its card, all parked:
        `place` brings in those of each image."""
        self.hide()
        for other in others:
            if other.pool_index not in self.cards:
                card = self.cards[other.pool_index] = _make_card(self.spec, self.scene, self.studio, other)
                self._collection().objects.link(card.obj)
            self.shown.append((self.cards[other.pool_index], other))
        return self.shown

    def _collection(self) -> Any:
        if self.collection is None:
            self.collection = bpy.data.collections.new("sh_other_people")
            self.scene.collection.children.link(self.collection)
        return self.collection

    def place(self, k: int, eye: np.ndarray) -> None:
        """Place the members in image `k`, facing the camera at `eye`; park the others."""
        for card, other in self.shown:
            p = other.placements[k] if k < len(other.placements) else None
            if p is None:
                _park(card)
                continue
            x, y, _ = view_to_world(p.x, p.y, p.rotation_deg, eye)
            card.obj.location = (x, y, 0.0)
            # the card's front looks along -X of its frame: turn +X to point from the eye to it
            card.obj.rotation_euler = (0.0, 0.0, math.atan2(y - float(eye[1]), x - float(eye[0])))

    def placed(self) -> list[int]:
        """Pool indices of the cards in view now (not parked)."""
        return [i for i, c in self.cards.items() if c.obj.location.z > PARKED_Z / 2]

    def hide(self) -> None:
        for card, _ in self.shown:
            _park(card)
        self.shown = []

    def close(self) -> None:
        """Free every card and the studio (the session ends)."""
        self.shown = []
        for card in self.cards.values():
            card.remove()
        self.cards.clear()
        if self.collection is not None:
            bpy.data.collections.remove(self.collection)
            self.collection = None
        self.studio.close()


def _park(card: Card) -> None:
    card.obj.location = (0.0, 0.0, PARKED_Z)


def _make_card(spec: Any, scene: Any, studio: CardStudio, other: Any) -> Card:
    """Build and pose the member, turned as in its first placement seen along +X, render its
    card, and free the member."""
    name = f"other{other.pool_index:03d}"
    build = character_mod.build_character(spec, other, scene, name=name, pass_index=0)
    try:
        character_mod.pose_character(build, spec, other.pose_phase)
        first = next((p for p in other.placements if p is not None), None)
        arm = build.armature
        arm.location = (0.0, 0.0, arm.location.z)
        arm.rotation_euler = (0.0, 0.0, math.radians(first.rotation_deg if first else 0.0))
        depsgraph = scene.view_layers[0].depsgraph
        depsgraph.update()
        lo, hi = render_mod.person_box(build.person_objects(), depsgraph)
        scene.collection.children.unlink(build.collection)
        return studio.shoot(build.collection, lo, hi, name)
    finally:
        character_mod.remove_character(build)
