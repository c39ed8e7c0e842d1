"""`imagepin pin`: find every image in Kubernetes YAML and pin it by digest, nothing else."""

from imagepin.pin.images import ImageSite, YamlImageError, find_images
from imagepin.pin.references import is_pinned, pin_reference, split_digest
from imagepin.pin.rewrite import rewrite

__all__ = [
    "ImageSite",
    "YamlImageError",
    "find_images",
    "is_pinned",
    "pin_reference",
    "rewrite",
    "split_digest",
]
