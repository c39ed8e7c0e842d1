"""`imagepin pin`: find every image a release names (Kubernetes, compose, kustomize,
Dockerfiles, GitHub Actions workflows) and pin it by digest, changing nothing else."""

from imagepin.pin.formats import scan_text
from imagepin.pin.references import is_pinned, pin_reference, split_digest
from imagepin.pin.rewrite import rewrite
from imagepin.pin.sites import ImageSite, Note, Scan, ScanError

__all__ = [
    "ImageSite",
    "Note",
    "Scan",
    "ScanError",
    "is_pinned",
    "pin_reference",
    "rewrite",
    "scan_text",
    "split_digest",
]
