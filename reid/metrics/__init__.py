"""Re-identification metrics as plain functions on a distance matrix.

Every function takes a query × gallery distance matrix (numpy array or torch tensor; smaller
= more similar) and the identity and camera arrays of the queries and of the gallery.

Protocols of :func:`cmc`:

``market1501``
    Every query against the whole gallery. Gallery images of the query's identity *and*
    camera are ignored (they are too easy), and so are junk images (identity −1). The CMC
    counts the rank of the first correct match; queries with no correct match left are
    skipped. :func:`mean_ap` is the matching mean average precision. Same numbers as
    torchreid's ``eval_market1501`` and Open-ReID's ``market1501`` CMC configuration
    wherever no wrong item lies at exactly a match's distance (see *Ties* below).

``cuhk03``
    Open-ReID's ``cuhk03`` configuration (``separate_camera_set=True,
    single_gallery_shot=True, first_match_break=False``): all gallery images of the query's
    camera are removed (whatever their identity); then, 10 times, one random image of every
    remaining gallery identity is drawn and the rank of the query's identity among them
    counts 1/10. With the same distance matrix and the same random state this reproduces
    Open-ReID's ``cmc`` exactly (see ``tests/reid/test_reid_metrics.py``). torchreid's
    ``eval_cuhk03`` differs: it removes only same-identity-same-camera images (other
    identities seen by the query's camera stay) and counts the first match.

``cross-camera``, ``thesis``, ``mixed-gallery``
    Single-shot draws of N identities (100), one query and one gallery image each, repeated
    (10 times) and averaged; they differ in which images a draw may pick. ``cross-camera``
    is the classic CUHK03 single-shot (query from one camera, every gallery image from the
    other, both directions averaged), ``thesis`` the source study's text (two random images
    of each identity, any cameras) and ``mixed-gallery`` the study's former ``single-shot``
    (the true match from the other camera, the distractors from either). The rules, edge
    cases included, are in :mod:`.single_shot`; :func:`plan_draws` returns the draws and
    :func:`rank_draws` every draw's curve, so the spread can be reported.

Ties (``ties=``, market1501):

``"pessimistic"`` (the default)
    A wrong gallery item at exactly the same distance as a correct match is ranked before
    it: a tie counts against the query. The numbers then depend only on the distances, never
    on the order of the gallery or on a sorting algorithm, and a model that maps many
    people to the same point (e.g. distances quantised to 0.1) cannot gain from it.
``"torchreid"``
    torchreid's ``eval_market1501``: every row sorted with numpy's default ``argsort``,
    which orders tied items as its sorting algorithm happens to (not by gallery position),
    so a tie may count for or against the query. Use it to compare with numbers published
    with torchreid; it sorts every row (slower) and ignores junk items (identity −1), which
    torchreid's dataset readers drop before evaluating.

Without ties both give the same numbers (``tests/reid/test_reid_metrics.py`` checks both
against an independent implementation of torchreid's rules).

The model-selection score of the study is :func:`cmc_area`: the area under the CMC curve
over ranks 1…R divided by R (the mean of the CMC values), so 1 is perfect.

Where things are: `protocols` (the functions below), `kernels` (the fast ranking and
distance code, with the invariants it relies on), `reference` (the same Market-1501 ranking
as a short loop: the tests' oracle), `inputs` (argument checks).
"""
from .kernels import pairwise_distance
from .protocols import (PROTOCOLS, RENAMED_PROTOCOLS, TIES, chance_cmc, check_protocol, cmc, cmc_area,
                        market1501_cmc_map, market1501_cmc_map_from_features, market1501_ranks,
                        market1501_ranks_from_features, mean_ap, pad_cmc)
from .single_shot import (SINGLE_SHOT_PROTOCOLS, DrawPlan, SingleShotDraw, distances_from_features,
                          distances_from_matrix, plan_draws, rank_draws, single_shot_area)

__all__ = ["PROTOCOLS", "RENAMED_PROTOCOLS", "SINGLE_SHOT_PROTOCOLS", "TIES", "DrawPlan", "SingleShotDraw",
           "chance_cmc", "check_protocol", "cmc", "cmc_area", "distances_from_features", "distances_from_matrix",
           "market1501_cmc_map", "market1501_cmc_map_from_features", "market1501_ranks",
           "market1501_ranks_from_features", "mean_ap", "pad_cmc", "pairwise_distance", "plan_draws", "rank_draws",
           "single_shot_area"]
