"""Thin wrappers around the real `skopeo` CLI (1.9.x), used to push and inspect test images.

skopeo is the independent witness: the tests push with it and ask it what the registry serves,
so the service under test is never checked against its own idea of a manifest.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path
from typing import Any, Literal

from tests.support.registries import RunningRegistry

SKOPEO_BINARY = "skopeo"
DEFAULT_TIMEOUT_S = 60.0

ManifestFormat = Literal["oci", "v2s2"]
Creds = tuple[str, str]


class SkopeoError(RuntimeError):
    """skopeo exited non-zero or timed out; the message carries its command line and stderr."""

    def __init__(self, args: list[str], message: str, returncode: int | None = None) -> None:
        super().__init__(f"skopeo failed ({returncode=}): {' '.join(args)}\n{message}")
        self.args_used = args
        self.returncode = returncode


def run_skopeo(args: list[str], *, timeout: float = DEFAULT_TIMEOUT_S) -> bytes:
    """Run `skopeo ARGS...` and return stdout; raise SkopeoError with stderr on failure."""
    command = [SKOPEO_BINARY, *args]
    try:
        result = subprocess.run(command, capture_output=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        stderr = (exc.stderr or b"").decode(errors="replace")
        raise SkopeoError(command, f"timed out after {timeout}s\n{stderr}") from exc
    if result.returncode != 0:
        raise SkopeoError(command, result.stderr.decode(errors="replace"), result.returncode)
    return result.stdout


# --------------------------------------------------------------------------------------------------
# Connection flags


_cert_dirs: dict[str, Path] = {}
_cert_dirs_lock = threading.Lock()


def cert_dir_for(ca_file: Path) -> Path:
    """A private directory holding only `ca.crt` (a copy of `ca_file`), as `--cert-dir` wants.

    skopeo reads every *.crt/*.cert/*.key in a cert dir, so pointing it at a directory that also
    holds a server key would break; a dedicated copy avoids that.
    """
    data = ca_file.read_bytes()
    key = hashlib.sha256(data).hexdigest()
    with _cert_dirs_lock:
        cached = _cert_dirs.get(key)
        if cached is not None and (cached / "ca.crt").exists():
            return cached
        directory = Path(tempfile.mkdtemp(prefix="skopeo-certs-"))
        (directory / "ca.crt").write_bytes(data)
        atexit.register(shutil.rmtree, directory, True)
        _cert_dirs[key] = directory
        return directory


def _connection_flags(
    prefix: str,
    registry: RunningRegistry | None,
    *,
    creds: Creds | None,
    ca_dir: Path | None,
    no_creds: bool,
    tls_verify: bool | None,
) -> list[str]:
    """`--{prefix}tls-verify`, `--{prefix}cert-dir`, `--{prefix}creds` for one side of a command."""
    https = registry is not None and registry.scheme == "https"
    verify = https if tls_verify is None else tls_verify
    flags = [f"--{prefix}tls-verify={'true' if verify else 'false'}"]
    if ca_dir is None and registry is not None and registry.ca_file is not None:
        ca_dir = cert_dir_for(registry.ca_file)
    if ca_dir is not None:
        flags.append(f"--{prefix}cert-dir={ca_dir}")
    if no_creds:
        flags.append(f"--{prefix}no-creds")
    else:
        if creds is None and registry is not None and registry.username is not None:
            creds = (registry.username, registry.password or "")
        if creds is not None:
            flags.append(f"--{prefix}creds={creds[0]}:{creds[1]}")
    return flags


def docker_ref(ref: str) -> str:
    """`host/repo:tag` -> `docker://host/repo:tag`; refs that already name a transport pass."""
    return ref if "://" in ref or ref.startswith("oci:") else f"docker://{ref}"


# --------------------------------------------------------------------------------------------------
# Commands


def copy_to_registry(
    layout_dir: Path,
    layout_tag: str,
    registry: RunningRegistry,
    repository: str,
    tag: str,
    *,
    all_images: bool = True,
    format: ManifestFormat | None = None,
    creds: Creds | None = None,
    ca_dir: Path | None = None,
    preserve_digests: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> str:
    """Push `oci:layout_dir:layout_tag` to `registry/repository:tag`; return the pushed digest.

    Without a `format`, `--preserve-digests` is passed (unless told otherwise) so the registry
    serves the layout's manifest bytes unchanged: otherwise skopeo recompresses uncompressed OCI
    layers with gzip and re-serialises the manifest. With `format="v2s2"` skopeo must rewrite the
    manifests (and, for an index with `all_images`, turns it into a Docker manifest list).
    """
    if preserve_digests is None:
        preserve_digests = format is None
    with tempfile.TemporaryDirectory(prefix="skopeo-digest-") as scratch:
        digest_file = Path(scratch) / "digest"
        args = ["copy", "--quiet", f"--digestfile={digest_file}"]
        args += _connection_flags(
            "dest-", registry, creds=creds, ca_dir=ca_dir, no_creds=False, tls_verify=None
        )
        if all_images:
            args.append("--all")
        if format is not None:
            args.append(f"--format={format}")
        if preserve_digests:
            args.append("--preserve-digests")
        args += [f"oci:{layout_dir}:{layout_tag}", f"docker://{registry.host}/{repository}:{tag}"]
        run_skopeo(args, timeout=timeout)
        return digest_file.read_text().strip()


def _inspect_args(
    ref: str,
    registry: RunningRegistry | None,
    creds: Creds | None,
    ca_dir: Path | None,
    no_creds: bool,
    tls_verify: bool | None,
) -> list[str]:
    flags = _connection_flags(
        "", registry, creds=creds, ca_dir=ca_dir, no_creds=no_creds, tls_verify=tls_verify
    )
    return [*flags, docker_ref(ref)]


def inspect(
    ref: str,
    *,
    registry: RunningRegistry | None = None,
    creds: Creds | None = None,
    ca_dir: Path | None = None,
    no_creds: bool = False,
    tls_verify: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> dict[str, Any]:
    """`skopeo inspect --no-tags` as a dict ("Digest" is the digest of the top-level manifest).

    `ref` is `host/repo:tag` or `host/repo@digest`; pass the `registry` it lives on for TLS/creds
    (without one, plain HTTP is assumed).
    """
    args = [
        "inspect",
        "--no-tags",
        *_inspect_args(ref, registry, creds, ca_dir, no_creds, tls_verify),
    ]
    return json.loads(run_skopeo(args, timeout=timeout))  # type: ignore[no-any-return]


def inspect_raw(
    ref: str,
    *,
    registry: RunningRegistry | None = None,
    creds: Creds | None = None,
    ca_dir: Path | None = None,
    no_creds: bool = False,
    tls_verify: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> bytes:
    """`skopeo inspect --raw`: the exact manifest (or index/list) bytes the registry serves."""
    args = ["inspect", "--raw", *_inspect_args(ref, registry, creds, ca_dir, no_creds, tls_verify)]
    return run_skopeo(args, timeout=timeout)


def inspect_config(
    ref: str,
    *,
    registry: RunningRegistry | None = None,
    creds: Creds | None = None,
    ca_dir: Path | None = None,
    no_creds: bool = False,
    tls_verify: bool | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> bytes:
    """`skopeo inspect --config --raw`: the exact config blob bytes of an image.

    For an index/list ref skopeo picks the child matching the host platform.
    """
    args = ["inspect", "--config", "--raw"]
    args += _inspect_args(ref, registry, creds, ca_dir, no_creds, tls_verify)
    return run_skopeo(args, timeout=timeout)
