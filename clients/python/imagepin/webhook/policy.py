"""What the webhook does for a review: which images, and what to do when the service fails.

Settings come from flags; a namespace's label picks a failure policy through the
MutatingWebhookConfiguration (its own path per label value), and an object's annotation
overrides both here. The annotation cannot reach the API server's own failurePolicy, used when
the webhook itself does not answer: that follows the namespace label alone.
"""

from __future__ import annotations

import datetime
import fnmatch
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from enum import Enum
from typing import Final, TypeVar

FAILURE_POLICY_KEY: Final = "imagepin.dev/failure-policy"  # "open" | "closed"
MODE_KEY: Final = "imagepin.dev/mode"  # "enforce" | "warn"
ALWAYS_EXCLUDED: Final = frozenset({"kube-system"})
# Every Pod creation asks: a scale-up of 100 Pods costs one registry request, not 100, and a
# tag pushed less than this ago may still pin to the build before (see the README).
DEFAULT_MAX_STALENESS: Final = datetime.timedelta(seconds=30)

E = TypeVar("E", bound=Enum)


class FailurePolicy(Enum):
    OPEN = "open"  # allow, with a warning naming the image
    CLOSED = "closed"  # deny, with a message a person can act on


class Mode(Enum):
    ENFORCE = "enforce"  # patch images
    WARN = "warn"  # change nothing; report what would be pinned or could not be


@dataclass(frozen=True)
class Settings:
    failure_policy: FailurePolicy = FailurePolicy.OPEN
    mode: Mode = Mode.ENFORCE
    excluded_namespaces: frozenset[str] = ALWAYS_EXCLUDED
    excluded_images: tuple[str, ...] = ()
    workload_templates: bool = False
    budget_s: float = 3.0
    max_staleness: datetime.timedelta = DEFAULT_MAX_STALENESS  # sent with every resolution
    require_signature: str = ""  # a trust policy every image must be signed under (signatures.py)

    @classmethod
    def build(
        cls,
        *,
        own_namespace: str | None,
        excluded_namespaces: Iterable[str] = (),
        **values: object,
    ) -> Settings:
        """Settings whose exclusions always hold kube-system and the webhook's own namespace."""
        namespaces = set(ALWAYS_EXCLUDED) | set(excluded_namespaces)
        if own_namespace:
            namespaces.add(own_namespace)
        return replace(cls(), excluded_namespaces=frozenset(namespaces), **values)  # type: ignore[arg-type]

    def image_excluded(self, image: str) -> bool:
        return any(fnmatch.fnmatchcase(image, pattern) for pattern in self.excluded_images)


@dataclass(frozen=True)
class Decision:
    """The policy for one review after the path's and the object's overrides."""

    failure_policy: FailurePolicy
    mode: Mode
    notes: list[str] = field(default_factory=list)


def decide(
    settings: Settings, query: Mapping[str, str], annotations: Mapping[str, str]
) -> Decision:
    """Object annotation, then the request path's parameter, then the configured default."""
    notes: list[str] = []
    failure = _pick(
        FailurePolicy,
        settings.failure_policy,
        (annotations.get(FAILURE_POLICY_KEY), query.get("failure-policy")),
        notes,
    )
    mode = _pick(Mode, settings.mode, (annotations.get(MODE_KEY), query.get("mode")), notes)
    return Decision(failure, mode, notes)


def _pick(kind: type[E], default: E, candidates: Iterable[str | None], notes: list[str]) -> E:
    for value in candidates:
        if value is None:
            continue
        try:
            return kind(value)
        except ValueError:
            notes.append(f"imagepin: ignored unknown {kind.__name__} {value!r}")
    return default
