"""Trust policies: read whole from TOML, keys per registry/repository glob, mistakes named."""

from __future__ import annotations

from pathlib import Path

import pytest
from imagepin_server.config import Settings, SettingsError
from imagepin_server.core.keys import load_public_key
from imagepin_server.core.trust import TrustPolicyError, load_trust_policies

from tests.support import attachments as att


def test_keys_are_chosen_by_repository_glob(tmp_path: Path) -> None:
    a, b = att.ecdsa_signer(), att.ed25519_signer()
    (tmp_path / "keys").mkdir()
    (tmp_path / "keys" / "b.pub").write_text(b.public_pem)
    path = tmp_path / "trust.toml"
    path.write_text(
        f'''
[[policy]]
name = "prod"
repositories = ["ghcr.io/acme/*"]
keys = ["""{a.public_pem}"""]

[[policy]]
name = "prod"
repositories = ["ghcr.io/acme/web", "docker.io/library/*"]
key_files = ["keys/b.pub"]
'''
    )
    policies = load_trust_policies(path)
    ids = lambda repo: [k.key_id for k in policies.keys_for("prod", repo) or ()]  # noqa: E731
    a_id, b_id = load_public_key(a.public_pem).key_id, load_public_key(b.public_pem).key_id
    assert ids("ghcr.io/acme/api") == [a_id]
    assert ids("ghcr.io/acme/web") == [a_id, b_id]
    assert ids("ghcr.io/acme/team/deep") == [a_id], "* crosses /"
    assert ids("docker.io/library/redis") == [b_id]
    assert ids("quay.io/acme/api") == []
    assert policies.keys_for("staging", "ghcr.io/acme/api") is None


def test_no_file_means_no_policies() -> None:
    assert load_trust_policies(None).keys_for("prod", "ghcr.io/acme/api") is None


@pytest.mark.parametrize(
    ("text", "said"),
    [
        ("[[policy]\n", "not valid TOML"),
        ("[other]\nx = 1\n", r"only \[\[policy\]\] tables"),
        ('[[policy]]\nrepositories = ["a/*"]\nkeys = ["x"]\n', "name must be"),
        ('[[policy]]\nname = "p"\nkeys = ["x"]\n', "at least one glob"),
        ('[[policy]]\nname = "p"\nrepositories = ["a/*"]\n', "names no keys"),
        ('[[policy]]\nname = "p"\nrepositories = ["a/*"]\nkeys = ["x"]\n', r"keys\[0\]"),
        ('[[policy]]\nname = "p"\nrepositories = ["a/*"]\nkey_files = ["no.pub"]\n', "no.pub"),
        ('[[policy]]\nname = "p"\nrepositories = ["a/*"]\nkeyz = []\n', "unknown keys"),
    ],
)
def test_mistakes_are_named(tmp_path: Path, text: str, said: str) -> None:
    path = tmp_path / "trust.toml"
    path.write_text(text)
    with pytest.raises(TrustPolicyError, match=said):
        load_trust_policies(path)


def test_a_bad_file_stops_the_start(tmp_path: Path) -> None:
    path = tmp_path / "trust.toml"
    path.write_text("[[policy]]\n")
    settings = Settings.from_env({"IMAGEPIN_TRUST_POLICIES_FILE": str(path)})
    assert settings.trust_policies_file == path
    with pytest.raises(SettingsError, match="IMAGEPIN_TRUST_POLICIES_FILE"):
        settings.validate()
    missing = Settings.from_env({"IMAGEPIN_TRUST_POLICIES_FILE": str(tmp_path / "none.toml")})
    with pytest.raises(SettingsError, match=r"none\.toml"):
        missing.validate()
