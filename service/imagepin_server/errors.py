"""The domain exception tree.

Every failure imagepin reports is one of these. Each class carries a stable `reason` (sent to
callers as google.rpc.ErrorInfo.reason) and belongs to one family; `api/` maps the families to
gRPC status codes in one table, so nothing below the gRPC layer knows about status codes.
Messages are for people: they name the reference and the registry's own error code when it gave
one, and never a credential.
"""

from __future__ import annotations

from collections.abc import Mapping


class ImagepinError(Exception):
    """Base of every error imagepin reports to a caller."""

    reason = "IMAGEPIN_ERROR"

    def __init__(
        self,
        message: str,
        *,
        reference: str | None = None,
        registry: str | None = None,
        registry_code: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.reference = reference
        self.registry = registry
        self.registry_code = registry_code

    def metadata(self) -> Mapping[str, str]:
        """Machine-readable facts about the failure (ErrorInfo metadata)."""
        facts = {
            "reference": self.reference,
            "registry": self.registry,
            "registry_code": self.registry_code,
        }
        return {key: value for key, value in facts.items() if value}


# --- the caller asked for something malformed -------------------------------------------------
class InvalidArgument(ImagepinError):
    reason = "INVALID_ARGUMENT"


class BadReference(InvalidArgument):
    reason = "INVALID_REFERENCE"


class BadDigest(InvalidArgument):
    reason = "INVALID_DIGEST"


class BadPlatform(InvalidArgument):
    reason = "INVALID_PLATFORM"


class ConflictingDigests(InvalidArgument):
    reason = "CONFLICTING_DIGESTS"


class BadRolloutKey(InvalidArgument):
    reason = "INVALID_ROLLOUT_KEY"


class BadPattern(InvalidArgument):
    """A tag filter or pattern that is no regular expression, or an extract template too long."""

    reason = "INVALID_PATTERN"


class BadTagPolicy(InvalidArgument):
    """No policy, or a semver range that does not parse."""

    reason = "INVALID_TAG_POLICY"


class BadPageToken(InvalidArgument):
    reason = "INVALID_PAGE_TOKEN"


# --- the thing asked for does not exist --------------------------------------------------------
class NotFound(ImagepinError):
    reason = "NOT_FOUND"


class RepositoryNotFound(NotFound):
    reason = "REPOSITORY_NOT_FOUND"


class ManifestNotFound(NotFound):
    reason = "MANIFEST_NOT_FOUND"


class BlobNotFound(NotFound):
    reason = "BLOB_NOT_FOUND"


class PlatformNotFound(NotFound):
    reason = "PLATFORM_NOT_FOUND"


class NoMatchingTag(NotFound):
    """SelectTag found no tag its policy and pattern accept."""

    reason = "NO_MATCHING_TAG"


# --- the registry refuses us -------------------------------------------------------------------
class AccessDenied(ImagepinError):
    reason = "REGISTRY_DENIED"


class RegistryUnauthorized(AccessDenied):
    """The registry wants credentials we do not have, or refused the ones we sent."""

    reason = "REGISTRY_UNAUTHORIZED"


# --- imagepin's own policy refuses the request -----------------------------------------------
class PolicyDenied(ImagepinError):
    """Refused by imagepin's configuration before anything was sent (the SSRF guard)."""

    reason = "POLICY_DENIED"


class RegistryNotAllowed(PolicyDenied):
    """The registry is not on the configured allow-list."""

    reason = "REGISTRY_NOT_ALLOWED"


class AddressNotAllowed(PolicyDenied):
    """A registry, token realm or redirect resolves to an address imagepin must not reach."""

    reason = "ADDRESS_NOT_ALLOWED"


# --- the caller of imagepin did not prove who it is ------------------------------------------
class Unauthenticated(ImagepinError):
    reason = "UNAUTHENTICATED"


# --- the registry (or our store) cannot answer now ---------------------------------------------
class Unavailable(ImagepinError):
    reason = "UNAVAILABLE"


class RegistryUnavailable(Unavailable):
    reason = "REGISTRY_UNAVAILABLE"


class StoreUnavailable(Unavailable):
    reason = "STORE_UNAVAILABLE"


class WatchBehind(Unavailable):
    """A WatchTags caller read events more slowly than tags moved; it should watch again."""

    reason = "WATCH_SUBSCRIBER_BEHIND"


class RateLimited(ImagepinError):
    reason = "REGISTRY_RATE_LIMITED"


class PullLimited(RateLimited):
    """Docker Hub's pull limit: manifest GETs per window, told by a 429 whose body says so."""

    reason = "REGISTRY_PULL_LIMITED"


class AbuseLimited(RateLimited):
    """Docker Hub's overall (abuse) limit: a bare 429, all requests from an address."""

    reason = "REGISTRY_ABUSE_LIMITED"


class PullReserveReached(RateLimited):
    """Our own floor: the registry's remaining pulls are at the configured `pull_reserve`."""

    reason = "PULL_RESERVE_REACHED"


class TooLarge(ImagepinError):
    """Content over one of our named size bounds."""

    reason = "CONTENT_TOO_LARGE"


class Timeout(ImagepinError):
    reason = "DEADLINE_EXCEEDED"


class RegistryTimeout(Timeout):
    reason = "REGISTRY_TIMEOUT"


# --- the content is not what it should be ------------------------------------------------------
class IntegrityError(ImagepinError):
    reason = "INTEGRITY_ERROR"


class DigestMismatch(IntegrityError):
    reason = "DIGEST_MISMATCH"


class UnsupportedContent(ImagepinError):
    """Content we can fetch but not interpret: schema1, an unknown media type, malformed JSON."""

    reason = "UNSUPPORTED_CONTENT"


class BadRegistryResponse(UnsupportedContent):
    reason = "BAD_REGISTRY_RESPONSE"


def schema1_refused(
    subject: str, *, reference: str | None = None, registry: str | None = None
) -> UnsupportedContent:
    """The one refusal of Docker schema 1 manifests, signed or not, wherever they are met."""
    return UnsupportedContent(
        f"{subject} is Docker schema 1, which is deprecated and not supported; "
        "push the image again with a current client",
        reference=reference,
        registry=registry,
    )


# --- signatures: what the caller trusts --------------------------------------------------------
class BadTrust(InvalidArgument):
    """Neither or both of public keys and a trust policy were given."""

    reason = "INVALID_TRUST"


class BadPublicKey(InvalidArgument):
    """A public key that is not PEM SubjectPublicKeyInfo of a supported kind."""

    reason = "INVALID_PUBLIC_KEY"


class TrustPolicyNotFound(NotFound):
    """A trust policy the server's policies file does not define."""

    reason = "TRUST_POLICY_NOT_FOUND"
