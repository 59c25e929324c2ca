"""Dataset loaders (every layout → :class:`ReidData`), splits, transforms and samplers.

Importing this package fills the layout registry (:mod:`reid.data.registry`): the modules
below register their layouts when imported; a new layout module is added to this list.
"""
from . import cuhk03, layouts  # noqa: F401  (each registers its layouts)
from .loading import DatasetLayoutError, LoadOptions
from .records import ImageItem, ReidData
from .registry import detect_layout, layout_names, load_dataset
from .splits import query_gallery_split, split_by_identity

__all__ = ["DatasetLayoutError", "LoadOptions", "detect_layout", "layout_names", "load_dataset", "ImageItem",
           "ReidData", "query_gallery_split", "split_by_identity"]
