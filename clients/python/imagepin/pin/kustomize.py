"""Images in a kustomization's `images:` block: `digest:` is written (the key added when absent,
in the entry's own style), `newName` and `newTag` are kept."""

from __future__ import annotations

from dataclasses import replace
from typing import Final

from yaml.nodes import MappingNode, Node, ScalarNode

from imagepin.pin import yamltext
from imagepin.pin.sites import ImageSite, Note, Scan, ScanError, Writes, substituted

FILE_NAMES: Final = frozenset({"kustomization.yaml", "kustomization.yml", "Kustomization"})
KIND: Final = "Kustomization"


def is_kustomization(node: Node | None, name: str) -> bool:
    return name in FILE_NAMES or yamltext.scalar(yamltext.get(node, "kind")) == KIND


def scan_kustomization(node: Node | None, text: str, source: str, scan: Scan) -> None:
    for index, entry in enumerate(yamltext.elements(yamltext.get(node, "images"))):
        if not isinstance(entry, MappingNode):
            continue
        name = yamltext.scalar(yamltext.get(entry, "name")) or ""
        repository = yamltext.scalar(yamltext.get(entry, "newName")) or name
        tag_node = yamltext.get(entry, "newTag")
        tag = yamltext.scalar(tag_node) or ""
        if not repository:
            continue
        reference = f"{repository}:{tag}" if tag else repository
        where = f"images[{index}] ({name})"
        line = yamltext.line(entry)
        digest = yamltext.get(entry, "digest")
        if isinstance(digest, ScalarNode) and digest.value:
            site = yamltext.scalar_site(digest, text, source, where)
            pinned = f"{reference}@{digest.value}"
            scan.sites.append(replace(site, image=pinned, line=line, writes=Writes.DIGEST))
        elif substituted(reference):
            scan.notes.append(Note(source, line, f"left alone: {reference} is substituted"))
        elif not tag:
            scan.notes.append(
                Note(
                    source,
                    line,
                    f"left alone: images[{index}] ({name}) has no newTag, so its tag comes from "
                    "the resources it applies to",
                )
            )
        elif isinstance(digest, ScalarNode):  # `digest: ''` or `digest:`: fill it in
            scan.sites.append(_empty_digest(entry, digest, text, reference, line, source, where))
        elif digest is not None:
            raise ScanError(f"{source}:{yamltext.line(digest)}: {where}: digest is not a string")
        else:
            site = _new_digest_key(entry, tag_node, text, reference, line, source, where)
            scan.sites.append(site)


def _empty_digest(
    entry: MappingNode,
    digest: ScalarNode,
    text: str,
    reference: str,
    line: int,
    source: str,
    where: str,
) -> ImageSite:
    """An empty `digest:` value: between its quotes, or right after the key's colon."""
    if digest.style in ("'", '"'):
        site = yamltext.scalar_site(digest, text, source, where)
        return replace(site, image=reference, line=line, writes=Writes.DIGEST)
    key = next(k for k, v in entry.value if v is digest)
    colon = text.index(":", key.end_mark.index) + 1
    return ImageSite(reference, colon, colon, line, source, where, Writes.DIGEST, prefix=" ")


def _new_digest_key(
    entry: MappingNode,
    tag_node: Node | None,
    text: str,
    reference: str,
    line: int,
    source: str,
    where: str,
) -> ImageSite:
    """Where `digest: …` goes: after the entry's last value, on a line of its own in a block
    mapping (after that line's comment, with the file's line ending), or `, digest: …` inside
    a flow mapping."""
    last = entry.value[-1][1]
    style = tag_node.style if isinstance(tag_node, ScalarNode) else None
    quote = style if style in ("'", '"') else ""
    end = last.end_mark.index
    if entry.flow_style:
        prefix = f", digest: {quote}"
    else:
        if isinstance(last, ScalarNode) and last.style not in (None, "'", '"'):
            raise ScanError(f"{source}:{line}: {where}: cannot add digest after a block scalar")
        eol = text.find("\n", end)
        if eol == -1:
            eol = len(text)
            newline = "\r\n" if "\r\n" in text else "\n"
        elif text[eol - 1 : eol] == "\r":
            eol -= 1
            newline = "\r\n"
        else:
            newline = "\n"
        end = eol
        column = entry.value[0][0].start_mark.column
        prefix = f"{newline}{' ' * column}digest: {quote}"
    return ImageSite(
        image=reference,
        start=end,
        end=end,
        line=line,
        source=source,
        where=where,
        writes=Writes.DIGEST,
        prefix=prefix,
        suffix=quote,
    )
