"""Container image references, parsed and normalised the way Docker does it.

This follows the grammar of Go's ``github.com/distribution/reference``
(``ParseNormalizedNamed`` and ``FamiliarString``), so that any reference
``docker pull`` accepts is accepted here and pinned under the same canonical
name, and anything Docker rejects is rejected with a message that says why.

Deliberate differences from Docker (all of them reject more, never less):

* only ``sha256`` and ``sha512`` digests are accepted (Docker also takes
  ``sha384``);
* a first path element that Docker treats as a registry (it contains ``.`` or
  ``:``, is ``localhost`` or has uppercase letters) must be a valid host, so
  ``foo_bar.com/app`` is an error here, where Docker quietly yields a
  reference with no registry at all.

Pure: the only module of ours it imports is digests.py, for the one digest grammar.
"""

from __future__ import annotations

import dataclasses
import re
from typing import Final, NoReturn

from imagepin_server.digests import Digest, digest_problem, is_sha256_hex, quote

__all__ = [
    "DEFAULT_REGISTRY",
    "DEFAULT_TAG",
    "DOCKER_HUB_API_HOST",
    "DOCKER_HUB_NAMES",
    "InvalidReference",
    "Reference",
    "Tag",
    "Target",
    "parse",
]

DEFAULT_REGISTRY: Final = "docker.io"
LEGACY_REGISTRY: Final = "index.docker.io"
DOCKER_HUB_API_HOST: Final = "registry-1.docker.io"
OFFICIAL_PREFIX: Final = "library/"
DEFAULT_TAG: Final = "latest"
MAX_REPOSITORY_LENGTH: Final = 255
MAX_TAG_LENGTH: Final = 128
# Every name Docker Hub goes by: in references, in `docker login`'s config, and its API host.
DOCKER_HUB_NAMES: Final = frozenset({DEFAULT_REGISTRY, LEGACY_REGISTRY, DOCKER_HUB_API_HOST})

# All patterns are used with fullmatch(): Python's "$" also matches before a
# trailing newline, which would let "redis\n" through. Character classes are
# spelled out because Python's \w and \d match non-ASCII characters and Go's do not.
_DOMAIN_PART = r"(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])"
_REGISTRY_RE: Final = re.compile(
    rf"(?:{_DOMAIN_PART}(?:\.{_DOMAIN_PART})*|\[[a-fA-F0-9:]+\])(?::[0-9]+)?"
)
_PATH_COMPONENT_RE: Final = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG_RE: Final = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]*")


class InvalidReference(ValueError):
    """Text that is not an image reference Docker would accept; the message says what is wrong."""

    def __init__(self, text: str, problem: str) -> None:
        super().__init__(f"invalid reference {quote(text)}: {problem}")
        self.text = text
        self.problem = problem

    def __reduce__(self) -> tuple[type[InvalidReference], tuple[str, str]]:
        # The default would call __init__ with the formatted message only.
        return type(self), (self.text, self.problem)


def _tag_problem(tag: str) -> str | None:
    if not tag:
        return 'missing tag after ":"'
    if len(tag) > MAX_TAG_LENGTH:
        return f"tag {quote(tag)} is longer than {MAX_TAG_LENGTH} characters ({len(tag)})"
    if not _TAG_RE.fullmatch(tag):
        return (
            f"invalid tag format {quote(tag)}: a tag starts with a letter, digit or '_' "
            "and contains only letters, digits, '_', '.' and '-'"
        )
    return None


def _digest_problem(digest: str) -> str | None:
    if not digest:
        return 'missing digest after "@"'
    return digest_problem(digest)


def _is_registry_like(first: str) -> bool:
    """Docker's rule (splitDockerDomain) for whether a leading path element names a registry."""
    return (
        first == "localhost"
        or "." in first
        or ":" in first
        or first.lower() != first  # namespaces are lowercase, so this must be a host
    )


@dataclasses.dataclass(frozen=True, slots=True)
class Tag:
    """A tag as the target of a manifest request: a name whose meaning the registry decides."""

    name: str

    def __str__(self) -> str:
        return self.name


# What a manifest request asks for: by tag (resolution) or by digest (content, verified).
Target = Tag | Digest


@dataclasses.dataclass(frozen=True, slots=True)
class Reference:
    """A normalised image reference: ``registry/repository[:tag][@digest]``."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        return f"{self.registry}/{self.repository}"

    def __str__(self) -> str:
        return self._format(self.name)

    @property
    def target(self) -> Target | None:
        """What to ask a registry for: the digest when there is one, else the tag."""
        if self.digest is not None:
            return Digest.parse(self.digest)
        return None if self.tag is None else Tag(self.tag)

    def familiar(self) -> str:
        """The short form Docker shows, e.g. ``redis:7`` for ``docker.io/library/redis:7``."""
        if self.registry != DEFAULT_REGISTRY:
            return self._format(self.name)
        path = self.repository
        # Like Docker, only single-level names under library/ are shortened.
        short = path.removeprefix(OFFICIAL_PREFIX)
        if short != path and "/" not in short:
            path = short
        return self._format(path)

    def with_tag(self, tag: str) -> Reference:
        """The same reference with its tag replaced; any digest is kept."""
        problem = _tag_problem(tag)
        if problem is not None:
            raise InvalidReference(f"{self.name}:{tag}", problem)
        return dataclasses.replace(self, tag=tag)

    def with_digest(self, digest: str) -> Reference:
        """The same reference with its digest replaced; any tag is kept."""
        self._check_digest(digest)
        return dataclasses.replace(self, digest=digest)

    def with_default_tag(self) -> Reference:
        """Adds ``latest`` when there is neither tag nor digest, as ``docker pull`` does."""
        if self.tag is None and self.digest is None:
            return dataclasses.replace(self, tag=DEFAULT_TAG)
        return self

    def pinned(self, digest: str) -> str:
        """``name@digest``: the immutable form, without the tag."""
        self._check_digest(digest)
        return f"{self.name}@{digest}"

    def pinned_with_tag(self, digest: str) -> str:
        """``name:tag@digest``, keeping the tag for readers (``name@digest`` if untagged)."""
        self._check_digest(digest)
        tag = "" if self.tag is None else f":{self.tag}"
        return f"{self.name}{tag}@{digest}"

    def _check_digest(self, digest: str) -> None:
        problem = _digest_problem(digest)
        if problem is not None:
            raise InvalidReference(f"{self.name}@{digest}", problem)

    def _format(self, name: str) -> str:
        tag = "" if self.tag is None else f":{self.tag}"
        digest = "" if self.digest is None else f"@{self.digest}"
        return f"{name}{tag}{digest}"


def parse(text: str) -> Reference:
    """Parse ``text`` as ``docker pull`` would (ParseNormalizedNamed); no default tag is added.

    Raises InvalidReference, naming the first problem found.
    """

    def fail(problem: str) -> NoReturn:
        raise InvalidReference(text, problem)

    if not text:
        fail("empty reference")
    if text.strip() != text:
        fail("leading or trailing whitespace is not allowed")
    if is_sha256_hex(text):
        fail(
            "a 64-character hexadecimal string is an image ID, not a repository name "
            "(use name@sha256:<hex> to refer to an image by digest)"
        )
    if "://" in text:
        fail("a reference has no URL scheme; write it as host/repository[:tag]")

    named, at, digest = text.partition("@")
    if at and "@" in digest:
        fail('more than one "@"')

    first, slash, rest = named.partition("/")
    if slash and _is_registry_like(first):
        if not _REGISTRY_RE.fullmatch(first):
            fail(
                f"registry {quote(first)} is not a valid host name, IPv4 address "
                "or [IPv6] address, with an optional :port"
            )
        registry = DEFAULT_REGISTRY if first == LEGACY_REGISTRY else first
        remainder = rest
    else:
        registry, remainder = DEFAULT_REGISTRY, named

    path, colon, tag = remainder.partition(":")
    if not path:
        fail("repository name is missing")
    if path.lower() != path:
        fail("repository name must be lowercase")
    for component in path.split("/"):
        if not component:
            fail(f"repository name {quote(path)} has an empty path component")
        if not _PATH_COMPONENT_RE.fullmatch(component):
            fail(
                f"invalid path component {quote(component)}: use lowercase letters and digits, "
                "separated by '.', '_', '__' or dashes"
            )
    if registry == DEFAULT_REGISTRY and "/" not in path:
        path = OFFICIAL_PREFIX + path
    if len(path) > MAX_REPOSITORY_LENGTH:
        # Docker counts the path after normalisation, without the registry.
        fail(
            f"repository name must not be longer than {MAX_REPOSITORY_LENGTH} characters "
            f"({quote(path)} has {len(path)})"
        )

    if colon and (problem := _tag_problem(tag)) is not None:
        fail(problem)
    if at and (problem := _digest_problem(digest)) is not None:
        fail(problem)

    return Reference(registry, path, tag if colon else None, digest if at else None)
