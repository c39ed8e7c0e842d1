"""Image reference parsing, checked against the cases of Docker's distribution/reference tests."""

from __future__ import annotations

import pickle

import pytest
from hypothesis import given
from hypothesis import strategies as st
from imagepin_server.reference import InvalidReference, Reference, parse

H256 = "dbcc1c35ac38df41fd2f5e4130b32ffdb93ebae8b3dbe638c23575912276fc9c"
D256 = f"sha256:{H256}"
D512 = "sha512:" + "f" * 128
BUSYBOX = "sha256:86e0e091d0da6bde2456dbb48306f3956bbeb2eae1b5b9a43045843f69fe4aaa"
HUB = "docker.io"
H63 = H256[:63]
A128 = "a" * 128
SONG = "thisisthesongthatneverendsitgoesonandonandonthisisthesongthatnev"  # 64, not all hex

# fmt: off
# input, registry, repository, tag, digest, str(), familiar()
VALID: list[tuple[str, str, str, str | None, str | None, str, str]] = [
    # Docker Hub normalisation
    ("redis", HUB, "library/redis", None, None, "docker.io/library/redis", "redis"),
    ("redis:7", HUB, "library/redis", "7", None, "docker.io/library/redis:7", "redis:7"),
    ("library/redis", HUB, "library/redis", None, None, "docker.io/library/redis", "redis"),
    ("docker.io/redis", HUB, "library/redis", None, None, "docker.io/library/redis", "redis"),
    ("docker.io/library/redis", HUB, "library/redis", None, None,
        "docker.io/library/redis", "redis"),
    ("index.docker.io/redis", HUB, "library/redis", None, None, "docker.io/library/redis", "redis"),
    ("index.docker.io/library/redis:7", HUB, "library/redis", "7", None,
        "docker.io/library/redis:7", "redis:7"),
    ("user/app", HUB, "user/app", None, None, "docker.io/user/app", "user/app"),
    ("user/app:1", HUB, "user/app", "1", None, "docker.io/user/app:1", "user/app:1"),
    ("index.docker.io/fooo/bar", HUB, "fooo/bar", None, None, "docker.io/fooo/bar", "fooo/bar"),
    ("other/library", HUB, "other/library", None, None, "docker.io/other/library", "other/library"),
    ("library/foo/bar", HUB, "library/foo/bar", None, None,
        "docker.io/library/foo/bar", "library/foo/bar"),
    ("store/foo/bar", HUB, "store/foo/bar", None, None, "docker.io/store/foo/bar", "store/foo/bar"),
    ("ubuntu-12.04-base", HUB, "library/ubuntu-12.04-base", None, None,
        "docker.io/library/ubuntu-12.04-base", "ubuntu-12.04-base"),
    ("test_com/foo", HUB, "test_com/foo", None, None, "docker.io/test_com/foo", "test_com/foo"),
    ("docker/migrator", HUB, "docker/migrator", None, None,
        "docker.io/docker/migrator", "docker/migrator"),
    # Bare words are never registries, even when they look like hosts (Docker's fast path).
    ("localhost", HUB, "library/localhost", None, None, "docker.io/library/localhost", "localhost"),
    ("192.168.0.1", HUB, "library/192.168.0.1", None, None,
        "docker.io/library/192.168.0.1", "192.168.0.1"),
    ("192.168.0.1:80", HUB, "library/192.168.0.1", "80", None,
        "docker.io/library/192.168.0.1:80", "192.168.0.1:80"),
    ("test.com:5000", HUB, "library/test.com", "5000", None,
        "docker.io/library/test.com:5000", "test.com:5000"),
    ("foo/foo_bar.com:8080", HUB, "foo/foo_bar.com", "8080", None,
        "docker.io/foo/foo_bar.com:8080", "foo/foo_bar.com:8080"),
    # Path components: separators, repeated dashes, double underscores, single characters.
    ("docker-rules/docker", HUB, "docker-rules/docker", None, None,
        "docker.io/docker-rules/docker", "docker-rules/docker"),
    ("docker---rules/docker", HUB, "docker---rules/docker", None, None,
        "docker.io/docker---rules/docker", "docker---rules/docker"),
    ("dock__er/docker", HUB, "dock__er/docker", None, None,
        "docker.io/dock__er/docker", "dock__er/docker"),
    ("d/docker", HUB, "d/docker", None, None, "docker.io/d/docker", "d/docker"),
    ("jess/t", HUB, "jess/t", None, None, "docker.io/jess/t", "jess/t"),
    # Not an image ID: 64 non-hex characters, 63 hex, or 64 hex with a registry or tag.
    (SONG, HUB, f"library/{SONG}", None, None, f"docker.io/library/{SONG}", SONG),
    (H63, HUB, f"library/{H63}", None, None, f"docker.io/library/{H63}", H63),
    (f"docker.io/{H256}", HUB, f"library/{H256}", None, None, f"docker.io/library/{H256}", H256),
    (f"{H256}:v1", HUB, f"library/{H256}", "v1", None,
        f"docker.io/library/{H256}:v1", f"{H256}:v1"),
    # Other registries: domains, ports, IPv4, localhost, IPv6.
    ("ghcr.io/org/app:1.0", "ghcr.io", "org/app", "1.0", None,
        "ghcr.io/org/app:1.0", "ghcr.io/org/app:1.0"),
    ("host:5000/a/b/c:tag", "host:5000", "a/b/c", "tag", None,
        "host:5000/a/b/c:tag", "host:5000/a/b/c:tag"),
    ("localhost/foo", "localhost", "foo", None, None, "localhost/foo", "localhost/foo"),
    ("localhost:5000/foo:bar", "localhost:5000", "foo", "bar", None,
        "localhost:5000/foo:bar", "localhost:5000/foo:bar"),
    ("localhost:5000/a/b:tag", "localhost:5000", "a/b", "tag", None,
        "localhost:5000/a/b:tag", "localhost:5000/a/b:tag"),
    ("example.com/privatebase", "example.com", "privatebase", None, None,
        "example.com/privatebase", "example.com/privatebase"),
    ("example.com:8000/private/moonbase", "example.com:8000", "private/moonbase", None, None,
        "example.com:8000/private/moonbase", "example.com:8000/private/moonbase"),
    ("127.0.0.1:8000/privatebase", "127.0.0.1:8000", "privatebase", None, None,
        "127.0.0.1:8000/privatebase", "127.0.0.1:8000/privatebase"),
    ("192.168.0.1:8/debian", "192.168.0.1:8", "debian", None, None,
        "192.168.0.1:8/debian", "192.168.0.1:8/debian"),
    ("192.168.1.1/repo", "192.168.1.1", "repo", None, None, "192.168.1.1/repo", "192.168.1.1/repo"),
    ("192.168.1.1:5000/repo:5050", "192.168.1.1:5000", "repo", "5050", None,
        "192.168.1.1:5000/repo:5050", "192.168.1.1:5000/repo:5050"),
    ("test-com:8080/foo", "test-com:8080", "foo", None, None,
        "test-com:8080/foo", "test-com:8080/foo"),
    ("xn--n3h.com:18080/foo", "xn--n3h.com:18080", "foo", None, None,
        "xn--n3h.com:18080/foo", "xn--n3h.com:18080/foo"),
    ("sub-dom1.foo.com/bar/baz/quux:some-long-tag", "sub-dom1.foo.com", "bar/baz/quux",
        "some-long-tag", None,
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
        "sub-dom1.foo.com/bar/baz/quux:some-long-tag"),
    ("b.gcr.io/test.example.com/my-app:test.example.com", "b.gcr.io", "test.example.com/my-app",
        "test.example.com", None,
        "b.gcr.io/test.example.com/my-app:test.example.com",
        "b.gcr.io/test.example.com/my-app:test.example.com"),
    ("[::1]:5000/foo", "[::1]:5000", "foo", None, None, "[::1]:5000/foo", "[::1]:5000/foo"),
    ("[2001:db8::1]/repo", "[2001:db8::1]", "repo", None, None,
        "[2001:db8::1]/repo", "[2001:db8::1]/repo"),
    ("[2001:db8::]:5000/repo", "[2001:db8::]:5000", "repo", None, None,
        "[2001:db8::]:5000/repo", "[2001:db8::]:5000/repo"),
    ("[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]", "repo", "tag", None,
        "[2001:db8:1:2:3:4:5:6]/repo:tag", "[2001:db8:1:2:3:4:5:6]/repo:tag"),
    ("[fc00::1]:5000/docker/docker", "[fc00::1]:5000", "docker/docker", None, None,
        "[fc00::1]:5000/docker/docker", "[fc00::1]:5000/docker/docker"),
    # "library/" is only added, and "docker.io" only dropped, for Docker Hub itself.
    ("docker.io:5000/foo", "docker.io:5000", "foo", None, None,
        "docker.io:5000/foo", "docker.io:5000/foo"),
    ("registry-1.docker.io/foo", "registry-1.docker.io", "foo", None, None,
        "registry-1.docker.io/foo", "registry-1.docker.io/foo"),
    # Uppercase is allowed in the registry, and an uppercase first element is a registry.
    ("Foo.com/bar", "Foo.com", "bar", None, None, "Foo.com/bar", "Foo.com/bar"),
    ("Foo/bar", "Foo", "bar", None, None, "Foo/bar", "Foo/bar"),
    ("FOO/bar:v1", "FOO", "bar", "v1", None, "FOO/bar:v1", "FOO/bar:v1"),
    ("Docker/docker", "Docker", "docker", None, None, "Docker/docker", "Docker/docker"),
    # Tags: uppercase allowed, 128 characters is the limit.
    ("lowercase:Uppercase", HUB, "library/lowercase", "Uppercase", None,
        "docker.io/library/lowercase:Uppercase", "lowercase:Uppercase"),
    ("redis:_x.Y-z", HUB, "library/redis", "_x.Y-z", None,
        "docker.io/library/redis:_x.Y-z", "redis:_x.Y-z"),
    (f"redis:{A128}", HUB, "library/redis", A128, None,
        f"docker.io/library/redis:{A128}", f"redis:{A128}"),
    # Digests, with and without a tag.
    (f"redis@{D256}", HUB, "library/redis", None, D256,
        f"docker.io/library/redis@{D256}", f"redis@{D256}"),
    (f"redis:7@{D256}", HUB, "library/redis", "7", D256,
        f"docker.io/library/redis:7@{D256}", f"redis:7@{D256}"),
    (f"busybox:latest@{BUSYBOX}", HUB, "library/busybox", "latest", BUSYBOX,
        f"docker.io/library/busybox:latest@{BUSYBOX}", f"busybox:latest@{BUSYBOX}"),
    (f"dmcgowan/myapp@{D256}", HUB, "dmcgowan/myapp", None, D256,
        f"docker.io/dmcgowan/myapp@{D256}", f"dmcgowan/myapp@{D256}"),
    (f"test:5000/repo:tag@{D256}", "test:5000", "repo", "tag", D256,
        f"test:5000/repo:tag@{D256}", f"test:5000/repo:tag@{D256}"),
    (f"[2001:db8::1]:5000/repo@{D256}", "[2001:db8::1]:5000", "repo", None, D256,
        f"[2001:db8::1]:5000/repo@{D256}", f"[2001:db8::1]:5000/repo@{D256}"),
    (f"xn--7o8h.com/myimage:xn--7o8h.com@{D512}", "xn--7o8h.com", "myimage", "xn--7o8h.com", D512,
        f"xn--7o8h.com/myimage:xn--7o8h.com@{D512}", f"xn--7o8h.com/myimage:xn--7o8h.com@{D512}"),
    (f"redis@{D512}", HUB, "library/redis", None, D512,
        f"docker.io/library/redis@{D512}", f"redis@{D512}"),
]
# fmt: on

# The 255-character limit applies to the repository path after normalisation
# (Docker counts "library/" but not the registry).
NAME_255 = "a/" * 127 + "a"
ONE_WORD_255 = "a" * (255 - len("library/"))
LONG_VALID = [
    (NAME_255, HUB, NAME_255),
    (NAME_255 + ":tag-puts-this-over-max", HUB, NAME_255),
    (ONE_WORD_255, HUB, "library/" + ONE_WORD_255),
    ("example.com/" + "b" * 255, "example.com", "b" * 255),
]

# input, substring of the error message
INVALID: list[tuple[str, str]] = [
    ("", "empty reference"),
    # whitespace is rejected, not stripped
    (" redis", "whitespace"),
    ("redis ", "whitespace"),
    ("redis\n", "whitespace"),
    ("\tredis", "whitespace"),
    ("re dis", "invalid path component"),
    # uppercase in the repository path
    ("Redis", 'invalid reference "Redis": repository name must be lowercase'),
    ("Uppercase:tag", "must be lowercase"),
    ("docker/Docker", "must be lowercase"),
    ("docker.io/docker/Docker", "must be lowercase"),
    ("test:5000/Uppercase/lowercase:tag", "must be lowercase"),
    ("Foo.com/Bar", "must be lowercase"),
    # no repository
    (":tag", "repository name is missing"),
    (":justtag", "repository name is missing"),
    (f"@{D256}", "repository name is missing"),
    ("localhost/", "repository name is missing"),
    ("example.com:5000/", "repository name is missing"),
    # empty path components
    ("a//b", "empty path component"),
    ("docker///docker", "empty path component"),
    ("docker.io/docker///docker", "empty path component"),
    ("docker/", "empty path component"),
    ("/redis", "empty path component"),
    # malformed path components
    ("-leading", 'invalid path component "-leading"'),
    ("-foo", "invalid path component"),
    ("-docker/docker", "invalid path component"),
    ("docker-/docker", "invalid path component"),
    ("-docker-/docker", "invalid path component"),
    ("____/____", "invalid path component"),
    ("_docker/_docker", "invalid path component"),
    ("dock___er/docker", "invalid path component"),
    ("docker/dock..er", "invalid path component"),
    ("docker/dock_.er", "invalid path component"),
    ("docker/dock-.er", "invalid path component"),
    ("aa/asdf$$^/aa", "invalid path component"),
    ("rédis", "invalid path component"),
    ("[fc00::1]", "invalid path component"),
    ("[fc00::1]:5000", "invalid path component"),
    ("[2001:db8::1]:tag", "invalid path component"),
    # a first element Docker takes for a registry (".", ":" or uppercase) but not a valid host
    ("dock..er/docker", 'registry "dock..er" is not a valid host'),
    ("dock_.er/docker", "is not a valid host"),
    ("dock-.er/docker", "is not a valid host"),
    ("-docker.io/docker/docker", 'registry "-docker.io" is not a valid host'),
    ("fc00::1:5000/debian", "is not a valid host"),
    ("[fe80::1%eth0]:5000/debian", "is not a valid host"),
    ("[fe80::1%@invalidzone]:5000/repo", "invalid path component"),
    ("[2001:db8:3:4::192.0.2.33]:5000/debian", "is not a valid host"),
    ("host:port/app", "is not a valid host"),
    ("foo_bar.com/baz", "is not a valid host"),
    ("Foo_Bar/baz", "is not a valid host"),
    ("https://github.com/docker/docker", "URL scheme"),
    # bare image IDs
    (H256, "image ID"),
    # repository name length
    ("a" * (256 - len("library/")), "repository name must not be longer than 255 characters"),
    ("a/" * 128 + "a:tag", "must not be longer than 255 characters"),
    ("example.com/" + "b" * 256, "must not be longer than 255 characters"),
    (
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_"
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_"
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255_"
        "this_is_not_a_valid_namespace_because_its_lenth_is_greater_than_255/docker",
        "must not be longer than 255 characters",
    ),
    # tags
    ("redis:", 'missing tag after ":"'),
    ("redis:" + "a" * 129, "is longer than 128 characters"),
    ("redis:-foo", 'invalid tag format "-foo"'),
    ("redis:.foo", "invalid tag format"),
    ("redis:a+b", "invalid tag format"),
    ("redis:ta$g", "invalid tag format"),
    ("redis:a:b", "invalid tag format"),
    ("redis:tåg", "invalid tag format"),
    (f"redis:@{D256}", "missing tag"),
    # digests
    ("redis@", 'missing digest after "@"'),
    ("redis@sha256", "invalid digest format"),
    ("redis@sha256:", "invalid digest format"),
    (f"redis@:{H256}", "invalid digest format"),
    ("redis@sha256:abc", 'invalid digest "sha256:abc": sha256 digests have 64 hex characters'),
    ("repo@sha256:" + "f" * 34, "sha256 digests have 64 hex characters"),
    ("redis@sha256:" + "f" * 65, "sha256 digests have 64 hex characters"),
    ("redis@sha512:" + "f" * 64, "sha512 digests have 128 hex characters"),
    ("redis@sha256:" + H256.upper(), "the hex must be lowercase"),
    ("redis@sha256:" + "g" * 64, "not hexadecimal"),
    ("redis@md5:" + "f" * 32, 'unsupported digest algorithm "md5"'),
    ("redis@md5:abc", 'unsupported digest algorithm "md5"'),
    (f"validname@invaliddigest:{'f' * 64}", 'unsupported digest algorithm "invaliddigest"'),
    ("redis@sha384:" + "f" * 96, 'unsupported digest algorithm "sha384"'),
    (f"redis@SHA256:{H256}", 'unsupported digest algorithm "SHA256"'),
    (f"redis@1sha:{H256}", "malformed algorithm name"),
    (f"redis@{D256}@{D256}", 'more than one "@"'),
]


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest", "full", "familiar"),
    VALID,
    ids=[case[0][:60] for case in VALID],
)
def test_parses_like_docker(
    text: str,
    registry: str,
    repository: str,
    tag: str | None,
    digest: str | None,
    full: str,
    familiar: str,
) -> None:
    ref = parse(text)
    assert ref == Reference(registry, repository, tag, digest)
    assert str(ref) == full
    assert ref.familiar() == familiar
    assert ref.name == f"{registry}/{repository}"
    assert parse(full) == ref


@pytest.mark.parametrize(("text", "registry", "repository"), LONG_VALID)
def test_repository_length_limit_counts_the_normalised_path(
    text: str, registry: str, repository: str
) -> None:
    ref = parse(text)
    assert (ref.registry, ref.repository) == (registry, repository)
    assert len(ref.repository) == 255


def test_familiar_form_round_trips_for_hub_names() -> None:
    for text in ("redis", "redis:7", "user/app:1", f"redis@{D256}", "library/foo/bar"):
        ref = parse(text)
        assert parse(ref.familiar()) == ref


@pytest.mark.parametrize(("text", "message"), INVALID, ids=[case[0][:60] for case in INVALID])
def test_rejects_like_docker(text: str, message: str) -> None:
    with pytest.raises(InvalidReference) as excinfo:
        parse(text)
    assert message in str(excinfo.value)
    assert excinfo.value.text == text
    assert str(excinfo.value).startswith("invalid reference ")


def test_invalid_reference_is_a_value_error_and_pickles() -> None:
    with pytest.raises(ValueError, match="must be lowercase") as excinfo:
        parse("Redis")
    assert isinstance(excinfo.value, InvalidReference)
    assert excinfo.value.problem == "repository name must be lowercase"
    copy = pickle.loads(pickle.dumps(excinfo.value))  # noqa: S301 - our own object
    assert str(copy) == str(excinfo.value)
    assert copy.problem == excinfo.value.problem


def test_long_input_is_shortened_in_the_message() -> None:
    with pytest.raises(InvalidReference) as excinfo:
        parse("Z" * 10_000)
    assert len(str(excinfo.value)) < 500


def test_parse_adds_no_default_tag() -> None:
    ref = parse("redis")
    assert ref.tag is None
    assert ref.digest is None
    assert str(ref) == "docker.io/library/redis"


def test_with_default_tag() -> None:
    assert str(parse("redis").with_default_tag()) == "docker.io/library/redis:latest"
    assert parse("redis:7").with_default_tag() == parse("redis:7")
    assert parse(f"redis@{D256}").with_default_tag() == parse(f"redis@{D256}")


def test_with_tag_keeps_digest_and_validates() -> None:
    ref = parse(f"ghcr.io/org/app@{D256}")
    assert str(ref.with_tag("v2")) == f"ghcr.io/org/app:v2@{D256}"
    assert parse("redis:7").with_tag("8").tag == "8"
    with pytest.raises(InvalidReference, match="invalid tag format"):
        ref.with_tag("-foo")
    with pytest.raises(InvalidReference, match="longer than 128"):
        ref.with_tag("x" * 129)
    with pytest.raises(InvalidReference, match="missing tag"):
        ref.with_tag("")


def test_with_digest_keeps_tag_and_validates() -> None:
    ref = parse("redis:7")
    assert str(ref.with_digest(D512)) == f"docker.io/library/redis:7@{D512}"
    with pytest.raises(InvalidReference, match="invalid digest format"):
        ref.with_digest("foo")
    with pytest.raises(InvalidReference, match='unsupported digest algorithm "md5"'):
        ref.with_digest("md5:" + "f" * 32)


def test_pinned_forms() -> None:
    tagged = parse("redis:7")
    assert tagged.pinned(D256) == f"docker.io/library/redis@{D256}"
    assert tagged.pinned_with_tag(D256) == f"docker.io/library/redis:7@{D256}"
    untagged = parse("localhost:5000/a/b")
    assert untagged.pinned(D256) == f"localhost:5000/a/b@{D256}"
    assert untagged.pinned_with_tag(D256) == f"localhost:5000/a/b@{D256}"
    with pytest.raises(InvalidReference, match="64 hex characters"):
        tagged.pinned("sha256:abc")
    with pytest.raises(InvalidReference, match="lowercase"):
        tagged.pinned_with_tag("sha256:" + H256.upper())


def test_reference_is_frozen_and_hashable() -> None:
    ref = parse("redis:7")
    with pytest.raises(AttributeError):
        ref.tag = "8"  # type: ignore[misc]
    assert {ref, parse("docker.io/library/redis:7")} == {ref}


_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
_REFERENCE_LIKE = (
    r"(?:(?:localhost|[a-zA-Z0-9.-]+|\[[a-f0-9:]+\])(?::[0-9]{1,5})?/)?"
    rf"{_COMPONENT}(?:/{_COMPONENT}){{0,3}}"
    r"(?::[A-Za-z0-9_][A-Za-z0-9_.-]{0,10})?"
    r"(?:@(?:sha256|sha512|md5):[a-fA-F0-9]{0,130})?"
)


@given(st.one_of(st.text(max_size=80), st.from_regex(_REFERENCE_LIKE, fullmatch=True)))
def test_parse_round_trips_or_raises_invalid_reference(text: str) -> None:
    try:
        ref = parse(text)
    except InvalidReference:
        return
    assert parse(str(ref)) == ref
