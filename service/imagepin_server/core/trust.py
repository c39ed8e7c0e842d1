"""Trust policies: named sets of keys per registry/repository glob, from a server-side file.

The file (IMAGEPIN_TRUST_POLICIES_FILE) is TOML: each `[[policy]]` table has a `name`, the
`repositories` it covers (globs over `registry/repository`, e.g. `ghcr.io/acme/*`; `*` also
crosses `/`), and `keys` (PEM text) and/or `key_files` (paths, relative to the file). Several
tables may share a name: a policy is all of its rules. It is read whole at start, so a mistake
stops the server instead of failing every verification.
"""

from __future__ import annotations

import fnmatch
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from imagepin_server.core.keys import PublicKey, load_public_key
from imagepin_server.errors import BadPublicKey

POLICIES_FILE_LIMIT: Final = 1024 * 1024


class TrustPolicyError(ValueError):
    """The policies file is malformed; the message names the file, the entry and the problem."""


@dataclass(frozen=True, slots=True)
class TrustRule:
    """Keys trusted for the repositories matching any of the globs."""

    repositories: tuple[str, ...]
    keys: tuple[PublicKey, ...]


@dataclass(frozen=True, slots=True)
class TrustPolicies:
    """Every policy by name; empty when no file is configured."""

    policies: dict[str, tuple[TrustRule, ...]] = field(default_factory=dict)

    def keys_for(self, name: str, repository: str) -> tuple[PublicKey, ...] | None:
        """The keys policy `name` trusts for `registry/repository`; None for an unknown policy."""
        rules = self.policies.get(name)
        if rules is None:
            return None
        found: dict[str, PublicKey] = {}
        for rule in rules:
            if any(fnmatch.fnmatchcase(repository, glob) for glob in rule.repositories):
                for key in rule.keys:
                    found.setdefault(key.key_id, key)
        return tuple(found.values())


def load_trust_policies(path: Path | None) -> TrustPolicies:
    """Read and check the policies file; TrustPolicyError says what is wrong where."""
    if path is None:
        return TrustPolicies()
    try:
        if path.stat().st_size > POLICIES_FILE_LIMIT:
            raise TrustPolicyError(f"{path}: larger than {POLICIES_FILE_LIMIT} bytes")
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise TrustPolicyError(f"{path}: {exc.strerror or exc}") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise TrustPolicyError(f"{path}: not valid TOML: {exc}") from exc
    entries = document.get("policy", [])
    unknown = set(document) - {"policy"}
    if unknown or not isinstance(entries, list):
        raise TrustPolicyError(f"{path}: only [[policy]] tables are allowed")
    policies: dict[str, list[TrustRule]] = {}
    for i, entry in enumerate(entries):
        name, rule = _rule(path, entry, f"policy[{i}]")
        policies.setdefault(name, []).append(rule)
    return TrustPolicies({name: tuple(rules) for name, rules in policies.items()})


def _rule(path: Path, entry: Any, where: str) -> tuple[str, TrustRule]:
    if not isinstance(entry, dict):
        raise TrustPolicyError(f"{path}: {where} is not a table")
    unknown = set(entry) - {"name", "repositories", "keys", "key_files"}
    if unknown:
        raise TrustPolicyError(f"{path}: {where} has unknown keys {sorted(unknown)}")
    name = entry.get("name")
    if not isinstance(name, str) or not name:
        raise TrustPolicyError(f"{path}: {where}.name must be a non-empty string")
    repositories = _strings(path, entry.get("repositories"), f"{where}.repositories")
    if not repositories:
        raise TrustPolicyError(f"{path}: {where}.repositories must list at least one glob")
    pems = [
        (f"{where}.keys[{j}]", pem)
        for j, pem in enumerate(_strings(path, entry.get("keys"), f"{where}.keys"))
    ]
    for j, name_of_file in enumerate(_strings(path, entry.get("key_files"), f"{where}.key_files")):
        key_path = path.parent / name_of_file
        try:
            pems.append((f"{where}.key_files[{j}] ({key_path})", key_path.read_text("utf-8")))
        except (OSError, UnicodeDecodeError) as exc:
            raise TrustPolicyError(
                f"{path}: {where}.key_files[{j}]: cannot read {key_path}"
            ) from exc
    if not pems:
        raise TrustPolicyError(f"{path}: {where} names no keys (keys or key_files)")
    try:
        keys = tuple(load_public_key(pem, where=label) for label, pem in pems)
    except BadPublicKey as exc:
        raise TrustPolicyError(f"{path}: {exc.message}") from exc
    return name, TrustRule(repositories=tuple(repositories), keys=keys)


def _strings(path: Path, value: Any, where: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise TrustPolicyError(f"{path}: {where} must be a list of strings")
    return value
