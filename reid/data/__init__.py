"""Dataset loaders (every layout → :class:`ReidData`), splits, transforms and samplers."""
from .layouts import LAYOUTS, DatasetLayoutError, LoadOptions, detect_layout, load_dataset
from .records import ImageItem, ReidData
from .splits import query_gallery_split, split_by_identity

__all__ = ["LAYOUTS", "DatasetLayoutError", "LoadOptions", "detect_layout", "load_dataset", "ImageItem", "ReidData",
           "query_gallery_split", "split_by_identity"]
