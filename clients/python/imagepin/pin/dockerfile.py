"""Images in Dockerfiles and Containerfiles: `FROM` lines (with `--platform=` flags and
`AS stage` names) and `COPY --from=image`.

A `FROM` naming an earlier stage, and `FROM scratch`, are not images; a reference built from
`ARG`s (`FROM ${BASE}`) is only known at build time, so it is left alone and noted.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

from imagepin.pin.sites import ImageSite, Note, Scan, substituted

FILE_NAME: Final = re.compile(
    r"^(?:Dockerfile|Containerfile)(?:\..+)?$|\.(?:Dockerfile|Containerfile)$", re.IGNORECASE
)
FIRST_INSTRUCTION: Final = re.compile(r"^(?:FROM|ARG)\s+\S", re.IGNORECASE)
ESCAPE_DIRECTIVE: Final = re.compile(r"^#\s*escape\s*=\s*(\S)\s*$", re.IGNORECASE)
DIRECTIVE: Final = re.compile(r"^#\s*[A-Za-z]+\s*=")
HEREDOC: Final = re.compile(r"<<(-?)([\"']?)([A-Za-z_][A-Za-z0-9_]*)\2")
COPY_FROM: Final = "--from="
NOT_AN_IMAGE: Final = "scratch"


@dataclass(frozen=True)
class Token:
    text: str
    offset: int
    line: int


@dataclass
class _Instruction:
    tokens: list[Token] = field(default_factory=list)


def is_dockerfile_name(name: str) -> bool:
    return bool(FILE_NAME.search(name)) and not name.endswith(".dockerignore")


def looks_like_dockerfile(text: str) -> bool:
    """Its first instruction (after comments and parser directives) is FROM or ARG."""
    for line in text.splitlines():
        stripped = line.strip()
        if stripped and not stripped.startswith("#"):
            return bool(FIRST_INSTRUCTION.match(stripped))
    return False


def scan_dockerfile(text: str, source: str) -> Scan:
    scan = Scan("dockerfile")
    stages: set[str] = set()
    for tokens in _instructions(text):
        keyword = tokens[0].text.upper()
        if keyword == "FROM":
            _from(tokens[1:], stages, source, scan)
        elif keyword == "COPY":
            for token in tokens[1:]:
                if token.text.lower().startswith(COPY_FROM):
                    _copy_from(token, stages, source, scan)
    return scan


def _from(arguments: list[Token], stages: set[str], source: str, scan: Scan) -> None:
    words = [token for token in arguments if not token.text.startswith("--")]
    if not words:
        return
    image = words[0]
    named = len(words) >= 3 and words[1].text.lower() == "as"
    stage = words[2].text.lower() if named else ""
    _image(image, stages, source, scan, f"FROM {image.text}" + (f" AS {stage}" if stage else ""))
    if stage:
        stages.add(stage)


def _copy_from(token: Token, stages: set[str], source: str, scan: Scan) -> None:
    value = token.text[len(COPY_FROM) :]
    if value.isdigit():  # a stage by its index
        return
    image = Token(value, token.offset + len(COPY_FROM), token.line)
    _image(image, stages, source, scan, f"COPY --from={value}")


def _image(image: Token, stages: set[str], source: str, scan: Scan, where: str) -> None:
    if image.text.lower() in stages or image.text.lower() == NOT_AN_IMAGE:
        return
    if substituted(image.text):
        message = f"left alone: {where} is ARG-substituted (known at build time)"
        scan.notes.append(Note(source, image.line, message))
        return
    scan.sites.append(
        ImageSite(
            image=image.text,
            start=image.offset,
            end=image.offset + len(image.text),
            line=image.line,
            source=source,
            where=where,
        )
    )


def _instructions(text: str) -> Iterator[list[Token]]:
    """Each instruction's words with their offsets, continuation lines joined, comments and
    heredoc bodies skipped."""
    escape = "\\"
    in_directives = True
    current: list[Token] = []
    heredocs: list[tuple[str, bool]] = []  # terminator, tabs stripped (<<-)
    offset = 0
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        start, offset = offset, offset + len(line)
        content = line.rstrip("\r\n")
        stripped = content.strip()
        if heredocs:
            terminator, dash = heredocs[0]
            if (content.lstrip("\t") if dash else content) == terminator:
                heredocs.pop(0)
            continue
        if in_directives:
            directive = ESCAPE_DIRECTIVE.match(stripped)
            if directive:
                escape = directive.group(1)
                continue
            if not DIRECTIVE.match(stripped):
                in_directives = False
        if not stripped or stripped.startswith("#"):
            continue
        continued = content.rstrip().endswith(escape)
        if continued:
            content = content.rstrip()[:-1]
        current.extend(
            Token(match.group(), start + match.start(), number)
            for match in re.finditer(r"\S+", content)
        )
        if continued or not current:
            continue
        tokens, current = current, []
        yield tokens
        if tokens[0].text.upper() in ("RUN", "COPY", "ADD"):
            for token in tokens[1:]:
                for match in HEREDOC.finditer(token.text):
                    heredocs.append((match.group(3), match.group(1) == "-"))
