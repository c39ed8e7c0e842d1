"""Splice new image values into the original text at their spans; nothing else moves."""

from __future__ import annotations

from collections.abc import Mapping

from imagepin.pin.images import ImageSite


def rewrite(text: str, replacements: Mapping[ImageSite, str]) -> str:
    """`text` with each site's scalar replaced by its new value, in the site's own quoting."""
    out = []
    position = 0
    for site in sorted(replacements, key=lambda s: s.start):
        out.append(text[position : site.start])
        out.append(f"{site.style}{replacements[site]}{site.style}")
        position = site.end
    out.append(text[position:])
    return "".join(out)
