"""Splice new text into the original at the sites' spans; nothing else moves."""

from __future__ import annotations

from collections.abc import Mapping

from imagepin.pin.sites import ImageSite


def rewrite(text: str, replacements: Mapping[ImageSite, str]) -> str:
    """`text` with each site's span replaced by its new text (see `ImageSite.replacement`)."""
    out = []
    position = 0
    for site in sorted(replacements, key=lambda s: s.start):
        out.append(text[position : site.start])
        out.append(replacements[site])
        position = site.end
    out.append(text[position:])
    return "".join(out)
