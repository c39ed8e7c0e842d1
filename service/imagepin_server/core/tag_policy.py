"""Choosing a tag by policy, as Flux's ImagePolicy does: pure, no I/O.

A tag is a candidate when it is not cosign's (`.sig`, `.att`, `.sbom`, `sha256-…`), when the
pattern (if any) matches it somewhere, and when the policy can read what `extract` makes of it:
a semantic version within the range (npm's grammar and pre-release rule, via node-semver, loose
so `v1.2.3` and `1.2` read as Flux's Masterminds/semver reads them), or a decimal number. The
highest is chosen (`ascending`, Flux's `asc`), or the lowest (`descending`); ties go to the tag
that sorts last by bytes, so the same list always gives the same answer. Patterns are RE2: linear
time whatever a caller sends, and the syntax Flux's Go patterns are written in.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Iterable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final

import nodesemver
import re2

from imagepin_server import errors

PATTERN_LIMIT: Final = 1024  # characters of a filter or pattern
EXTRACT_LIMIT: Final = 256  # characters of an extract template
RANGE_LIMIT: Final = 256  # characters of a semver range
COSIGN_SUFFIXES: Final = (".sig", ".att", ".sbom")
COSIGN_PREFIX: Final = "sha256-"
_NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_TEMPLATE_NAME: Final = re.compile(r"[A-Za-z0-9_]+")


class Order(enum.Enum):
    ASCENDING = "asc"  # choose the highest
    DESCENDING = "desc"  # choose the lowest


@dataclass(frozen=True, slots=True)
class Semver:
    range: str
    include_prereleases: bool = False


@dataclass(frozen=True, slots=True)
class Numerical:
    order: Order = Order.ASCENDING


@dataclass(frozen=True, slots=True)
class Alphabetical:
    order: Order = Order.ASCENDING


TagPolicy = Semver | Numerical | Alphabetical


@dataclass(frozen=True, slots=True)
class Choice:
    """The tag chosen (None when no tag is a candidate) and how many were candidates."""

    tag: str | None
    considered: int


def compile_pattern(text: str, *, field: str) -> Any:
    """An RE2 pattern from a caller, or BadPattern naming the field and RE2's complaint."""
    if len(text) > PATTERN_LIMIT:
        raise errors.BadPattern(f"{field} is {len(text)} characters; at most {PATTERN_LIMIT}")
    options = re2.Options()
    options.log_errors = False  # a caller's mistake is an answer, not a server log line
    try:
        return re2.compile(text, options)
    except re2.error as exc:
        said = exc.args[0] if exc.args else "invalid"
        problem = said.decode(errors="replace") if isinstance(said, bytes) else str(said)
        raise errors.BadPattern(
            f"{field} {text[:80]!r} is not a regular expression: {problem}"
        ) from exc


def is_cosign_tag(tag: str) -> bool:
    """cosign's signatures, attestations and SBOMs (and OCI 1.1's fallback `sha256-…` tags)."""
    return tag.startswith(COSIGN_PREFIX) or tag.endswith(COSIGN_SUFFIXES)


def check_policy(policy: TagPolicy | None) -> TagPolicy:
    """The policy, checked before any registry is asked: a range must parse."""
    if policy is None:
        raise errors.BadTagPolicy("a policy is required: semver, numerical or alphabetical")
    if isinstance(policy, Semver):
        _semver_range(policy.range)
    return policy


def choose(
    tags: Iterable[str], policy: TagPolicy, *, pattern: str = "", extract: str = ""
) -> Choice:
    """The tag the policy chooses among `tags`; see the module docstring."""
    if len(extract) > EXTRACT_LIMIT:
        raise errors.BadPattern(f"extract is {len(extract)} characters; at most {EXTRACT_LIMIT}")
    if extract and not pattern:
        raise errors.BadPattern("extract needs a pattern whose groups it names")
    compiled = compile_pattern(pattern, field="pattern") if pattern else None
    semver_range = _semver_range(policy.range) if isinstance(policy, Semver) else None
    best: tuple[Any, bytes] | None = None
    chosen: str | None = None
    considered = 0
    for tag in tags:
        if is_cosign_tag(tag):
            continue
        value = tag
        if compiled is not None:
            match = compiled.search(tag)
            if match is None:
                continue
            if extract:
                value = expand(extract, match)
        key = _key(value, policy, semver_range)
        if key is None:
            continue
        considered += 1
        ranked = (key, tag.encode())
        if best is None or ranked > best:
            best, chosen = ranked, tag
    return Choice(chosen, considered)


def expand(template: str, match: Any) -> str:
    """Go's Regexp.Expand: `$name`, `${name}`, `$1`, `$$`; an unknown or unmatched group is empty,
    and a `$` followed by no name is kept as it is."""
    out: list[str] = []
    position = 0
    while position < len(template):
        dollar = template.find("$", position)
        if dollar < 0:
            out.append(template[position:])
            break
        out.append(template[position:dollar])
        rest = template[dollar + 1 :]
        if rest.startswith("$"):
            out.append("$")
            position = dollar + 2
            continue
        if rest.startswith("{"):
            close = rest.find("}")
            name = rest[1:close] if close > 0 else ""
            if name and _TEMPLATE_NAME.fullmatch(name):
                out.append(_group(match, name))
                position = dollar + 2 + close
                continue
        else:
            found = _TEMPLATE_NAME.match(rest)
            if found is not None:
                out.append(_group(match, found.group()))
                position = dollar + 1 + found.end()
                continue
        out.append("$")
        position = dollar + 1
    return "".join(out)


def _group(match: Any, name: str) -> str:
    try:
        value = match.group(int(name) if name.isdigit() else name)
    except (IndexError, KeyError, ValueError):
        return ""
    return value if isinstance(value, str) else ""


def _semver_range(text: str) -> Any:
    if not text.strip():
        raise errors.BadTagPolicy("semver.range is required, e.g. '^7.2' or '>=1.4 <2'")
    if len(text) > RANGE_LIMIT:
        raise errors.BadTagPolicy(f"semver.range is {len(text)} characters; at most {RANGE_LIMIT}")
    try:
        return nodesemver.make_range(text, True)
    except (ValueError, TypeError) as exc:
        raise errors.BadTagPolicy(
            f"semver.range {text[:80]!r} is not a version range (npm's grammar: '^7.2', "
            "'~1.4.2', '>=1.4 <2', '5.1.x', '1.x || 2.x')"
        ) from exc


def _key(value: str, policy: TagPolicy, semver_range: Any) -> Any:
    """What the policy compares for one candidate (bigger is better), or None if it cannot."""
    if isinstance(policy, Semver):
        try:
            version = nodesemver.make_semver(value, True)
        except (ValueError, TypeError):
            return None
        if not semver_range.test(version, include_prerelease=policy.include_prereleases):
            return None
        if version.prerelease and policy.include_prereleases:
            # As npm's includePrerelease does now (`<8` is `<8.0.0-0`): 8.0.0-beta is no 7.x.
            release = nodesemver.make_semver(
                f"{version.major}.{version.minor}.{version.patch}", True
            )
            if not semver_range.test(release, include_prerelease=True):
                return None
        return _SemverKey(version)
    if isinstance(policy, Numerical):
        if not _NUMBER.fullmatch(value):
            return None
        try:
            number = Decimal(value)
        except InvalidOperation:
            return None
        return number if policy.order is Order.ASCENDING else -number
    encoded = value.encode()
    return encoded if policy.order is Order.ASCENDING else _Reversed(encoded)


class _SemverKey:
    """Semantic version precedence (semver.org §11) as a sort key."""

    __slots__ = ("version",)

    def __init__(self, version: Any) -> None:
        self.version = version

    def __lt__(self, other: _SemverKey) -> bool:
        return bool(self.version.compare(other.version) < 0)

    def __gt__(self, other: _SemverKey) -> bool:
        return bool(self.version.compare(other.version) > 0)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _SemverKey) and self.version.compare(other.version) == 0

    __hash__ = None  # type: ignore[assignment]


class _Reversed:
    """Bytes in reverse order: the lowest sorts highest (alphabetical, descending)."""

    __slots__ = ("value",)

    def __init__(self, value: bytes) -> None:
        self.value = value

    def __lt__(self, other: _Reversed) -> bool:
        return self.value > other.value

    def __gt__(self, other: _Reversed) -> bool:
        return self.value < other.value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, _Reversed) and self.value == other.value

    __hash__ = None  # type: ignore[assignment]
