"""Which calls keep their access-log line in each IMAGEPIN_ACCESS_LOG mode."""

from __future__ import annotations

from imagepin_server.api.access_log import AccessLog, Mode

HIT = {"code": "OK", "source": "cache"}
ASKED = {"code": "OK", "source": "registry"}
STALE = {"code": "OK", "source": "stale"}
FAILED = {"code": "NOT_FOUND", "reason": "MANIFEST_NOT_FOUND"}
OTHER_RPC = {"code": "OK"}  # GetManifest and the rest note no cache source


def test_sampled_keeps_everything_but_cache_hits_which_it_samples() -> None:
    log = AccessLog(Mode.SAMPLED, sample_rate=0.25)
    assert all(log.wanted(fields) for fields in (ASKED, STALE, FAILED, OTHER_RPC))
    kept = [log.wanted(HIT) for _ in range(12)]
    assert kept == [False, False, False, True] * 3


def test_a_fast_path_hit_and_a_slow_path_hit_share_one_sample() -> None:
    log = AccessLog(Mode.SAMPLED, sample_rate=0.5)
    assert [log.sample_hit(), log.wanted(HIT), log.sample_hit(), log.wanted(HIT)] == [
        False,
        True,
        False,
        True,
    ]


def test_all_keeps_every_line_and_errors_keeps_failures_and_stale_answers() -> None:
    everything = AccessLog(Mode.ALL, sample_rate=0.0)
    assert all(everything.wanted(f) for f in (HIT, ASKED, STALE, FAILED, OTHER_RPC))
    assert everything.sample_hit()
    errors = AccessLog(Mode.ERRORS)
    assert [errors.wanted(f) for f in (HIT, ASKED, STALE, FAILED, OTHER_RPC)] == [
        False,
        False,
        True,
        True,
        False,
    ]
    assert not errors.sample_hit()


def test_a_zero_rate_logs_no_cache_hit() -> None:
    log = AccessLog(Mode.SAMPLED, sample_rate=0.0)
    assert not any(log.wanted(HIT) for _ in range(1000))
    assert log.wanted(FAILED)
