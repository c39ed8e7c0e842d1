"""core/tag_policy.py: choosing a tag as Flux's ImagePolicy documents it, and what it refuses.

The Flux examples are from the image-reflector-controller's ImagePolicy documentation and the
`flux create image policy` reference: `semver: range: 5.1.x` over podinfo's tags gives 5.1.4;
`--select-numeric=asc --filter-regex='^main-[a-f0-9]+-(?P<ts>[0-9]+)' --filter-extract='$ts'`;
`alphabetical: order: asc` with `pattern: '^RELEASE\\.(?P<timestamp>.*)Z$'`,
`extract: '$timestamp'` (MinIO's release tags); `asc` chooses the highest, `desc` the lowest.
"""

from __future__ import annotations

import pytest
from imagepin_server import errors
from imagepin_server.core.tag_policy import (
    Alphabetical,
    Numerical,
    Order,
    Semver,
    choose,
    compile_pattern,
    expand,
    is_cosign_tag,
)

PODINFO = [
    "5.0.0", "5.0.1", "5.0.2", "5.0.3", "5.1.0", "5.1.1", "5.1.2", "5.1.3", "5.1.4",
    "5.2.0", "5.2.1", "6.0.0", "6.0.1", "latest", "master-a3c4b1f",
]  # fmt: skip
MAIN_BUILDS = [
    "main-4f2a9c1-1709640000",
    "main-0b7e3d2-1709726400",
    "main-a9c0ffe-998",  # a smaller number with more recent-looking text: numbers, not text
    "feature-x-2a3b4c5-1809726400",  # not main
    "main-zzz-1909726400",  # not hex: the pattern does not match
]
MINIO = [
    "RELEASE.2023-12-23T07-19-11Z",
    "RELEASE.2024-01-01T16-36-33Z",
    "RELEASE.2023-09-04T19-57-37Z",
    "RELEASE.2024-01-01T16-36-33Z.fips",
    "latest",
]
MAIN_PATTERN = "^main-[a-f0-9]+-(?P<ts>[0-9]+)"
MINIO_PATTERN = r"^RELEASE\.(?P<timestamp>.*)Z$"


def test_flux_semver_x_range() -> None:
    assert choose(PODINFO, Semver("5.1.x")).tag == "5.1.4"


def test_flux_semver_open_range() -> None:
    choice = choose(PODINFO, Semver(">=1.0.0"))
    assert choice.tag == "6.0.1"
    assert choice.considered == 13  # every version; latest and master-… are none


def test_flux_numerical_with_extract() -> None:
    choice = choose(MAIN_BUILDS, Numerical(Order.ASCENDING), pattern=MAIN_PATTERN, extract="$ts")
    assert choice.tag == "main-0b7e3d2-1709726400"
    assert choice.considered == 3
    lowest = choose(MAIN_BUILDS, Numerical(Order.DESCENDING), pattern=MAIN_PATTERN, extract="$ts")
    assert lowest.tag == "main-a9c0ffe-998"


def test_flux_alphabetical_with_extract() -> None:
    newest = choose(
        MINIO, Alphabetical(Order.ASCENDING), pattern=MINIO_PATTERN, extract="$timestamp"
    )
    assert newest.tag == "RELEASE.2024-01-01T16-36-33Z"
    assert newest.considered == 3  # ".fips" does not end in Z
    oldest = choose(
        MINIO, Alphabetical(Order.DESCENDING), pattern=MINIO_PATTERN, extract="$timestamp"
    )
    assert oldest.tag == "RELEASE.2023-09-04T19-57-37Z"


def test_numerical_compares_numbers_not_text() -> None:
    assert choose(["1", "2", "10", "9"], Numerical()).tag == "10"
    assert choose(["1", "2", "10", "9"], Numerical(Order.DESCENDING)).tag == "1"
    assert choose(["1.5", "1.25", "x"], Numerical()).tag == "1.5"
    # Long build numbers keep every digit (no float rounding).
    assert choose(["12345678901234567891", "12345678901234567890"], Numerical()).tag == (
        "12345678901234567891"
    )


def test_alphabetical_without_pattern() -> None:
    assert choose(["b", "a", "c"], Alphabetical()).tag == "c"
    assert choose(["b", "a", "c"], Alphabetical(Order.DESCENDING)).tag == "a"


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        ("^7.2", "7.4.1"),
        ("~7.2", "7.2.9"),
        (">=1.4 <2", "1.10.0"),
        (">=7.2.5 <7.4", "7.3.0"),
        ("7.x || 8.0.x", "8.0.2"),
        ("<7", "2.0.0"),
    ],
)
def test_semver_ranges(range_: str, expected: str) -> None:
    tags = ["1.3.9", "1.4.0", "1.9.9", "1.10.0", "2.0.0", "7.2.0", "7.2.9", "7.3.0", "7.4.1",
            "7.5.0-rc.1", "8.0.2", "9.0.0"]  # fmt: skip
    assert choose(tags, Semver(range_)).tag == expected


def test_prereleases_only_when_asked() -> None:
    tags = ["7.2.0", "7.3.0", "7.4.0-rc.1", "8.0.0-beta.2"]
    assert choose(tags, Semver("^7.2")).tag == "7.3.0"
    assert choose(tags, Semver("^7.2", include_prereleases=True)).tag == "7.4.0-rc.1"
    assert choose(["1.9.0", "2.0.0-rc.1"], Semver("<2", include_prereleases=True)).tag == "1.9.0"
    assert choose(["1.4.0-rc.1"], Semver(">=1.4.0", include_prereleases=True)).tag is None
    # npm's rule: a range naming a pre-release admits that version's pre-releases.
    assert choose(["7.4.0-rc.1", "7.4.0-rc.2"], Semver(">=7.4.0-rc.1")).tag == "7.4.0-rc.2"


def test_semver_reads_v_prefixes_and_breaks_ties_by_tag() -> None:
    assert choose(["v1.2.3", "1.2.2"], Semver("^1")).tag == "v1.2.3"
    # 1.2 and 1.2.0 and v1.2.0 are one version: the tag last by bytes wins, every time.
    assert choose(["1.2.0", "v1.2.0", "1.2"], Semver("1.2.x")).tag == "v1.2.0"


def test_semver_with_pattern_and_extract() -> None:
    tags = ["build-41-v1.3.7", "build-42-v1.4.0", "build-43-v2.0.0", "v9.9.9"]
    choice = choose(
        tags, Semver(">=1.0.0 <2"), pattern=r"^build-\d+-v(?P<version>\d+\.\d+\.\d+)$",
        extract="${version}",
    )  # fmt: skip
    assert choice.tag == "build-42-v1.4.0"
    assert choice.considered == 2


def test_cosign_tags_are_never_candidates() -> None:
    digest_tag = "sha256-" + "a" * 64
    tags = ["1.0.0", f"{digest_tag}.sig", f"{digest_tag}.att", f"{digest_tag}.sbom", digest_tag]
    assert choose(tags, Alphabetical()).tag == "1.0.0"
    assert choose(tags, Alphabetical()).considered == 1
    assert all(is_cosign_tag(tag) for tag in tags[1:])
    assert not is_cosign_tag("1.0.0")


def test_nothing_to_choose() -> None:
    choice = choose(["latest", "main"], Semver("^1"))
    assert choice.tag is None
    assert choice.considered == 0


def test_the_pattern_matches_anywhere_as_in_flux() -> None:
    assert choose(["app-1", "2-app", "3"], Numerical(), pattern="app").tag is None  # not numbers
    assert choose(["x-1-y", "x-22-y"], Numerical(), pattern=r"(\d+)", extract="$1").tag == "x-22-y"


def test_expand_follows_go() -> None:
    match = compile_pattern(r"(?P<a>x)(y)?(?P<b_2>z)", field="pattern").search("xz")
    assert expand("$a", match) == "x"
    assert expand("${a}-${b_2}", match) == "x-z"
    assert expand("$1$3", match) == "xz"
    assert expand("$2", match) == ""  # a group that took no part
    assert expand("$nope", match) == ""  # no such group
    assert expand("$$a", match) == "$a"
    assert expand("cost: $", match) == "cost: $"
    assert expand("${", match) == "${"
    assert expand("$a.$b_2", match) == "x.z"


def test_bad_patterns_and_templates_are_refused() -> None:
    with pytest.raises(errors.BadPattern, match="pattern"):
        choose(["a"], Alphabetical(), pattern="(unclosed")
    with pytest.raises(errors.BadPattern, match="at most"):
        choose(["a"], Alphabetical(), pattern="a" * 2000)
    with pytest.raises(errors.BadPattern, match="extract needs a pattern"):
        choose(["a"], Alphabetical(), extract="$x")
    with pytest.raises(errors.BadTagPolicy, match="not a version range"):
        choose(["1.0.0"], Semver("banana"))
    with pytest.raises(errors.BadTagPolicy, match="required"):
        choose(["1.0.0"], Semver(""))


def test_patterns_are_linear_time() -> None:
    """RE2: the pattern that takes Python's re 2^n steps is answered at once."""
    pattern = compile_pattern("(a+)+$", field="filter")
    assert pattern.fullmatch("a" * 5000 + "b") is None
