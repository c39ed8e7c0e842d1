"""How to reach the service: target, TLS or mTLS, a bearer token, deadlines and retries.

Retries are gRPC's own (a service config), so they follow the channel's backoff and never
re-send a call the server may have started to act on: only UNAVAILABLE is retried.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Final

import grpc

from imagepin.errors import make_error

SERVICE: Final = "imagepin.v1.ResolverService"
DEFAULT_TARGET: Final = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S: Final = 10.0
# A 4 MiB manifest plus an 8 MiB config fit, as on the server.
MAX_MESSAGE_BYTES: Final = 16 * 1024 * 1024

Metadata = tuple[tuple[str, str], ...]

# Yes/no variables (IMAGEPIN_TLS) take these spellings, in the library and the command alike.
TRUE_WORDS: Final = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS: Final = frozenset({"0", "false", "no", "off", ""})

# The variable each Connection field is read from.
ENV: Final = {
    "target": "IMAGEPIN_SERVER",
    "tls": "IMAGEPIN_TLS",
    "ca_file": "IMAGEPIN_CA_FILE",
    "client_cert_file": "IMAGEPIN_CLIENT_CERT",
    "client_key_file": "IMAGEPIN_CLIENT_KEY",
    "server_name": "IMAGEPIN_SERVER_NAME",
    "token": "IMAGEPIN_TOKEN",
    "token_file": "IMAGEPIN_TOKEN_FILE",
    "timeout_s": "IMAGEPIN_TIMEOUT",
}


@dataclass(frozen=True)
class RetryPolicy:
    """Backoff for calls that fail UNAVAILABLE (the service restarting, a pod going away)."""

    max_attempts: int = 4
    initial_backoff_s: float = 0.2
    max_backoff_s: float = 3.0
    multiplier: float = 2.0

    def service_config(self) -> str:
        """The gRPC service config (JSON) that makes the channel retry our service's calls."""
        method: dict[str, Any] = {"name": [{"service": SERVICE}]}
        if self.max_attempts > 1:
            method["retryPolicy"] = {
                "maxAttempts": min(self.max_attempts, 5),  # gRPC caps it at 5
                "initialBackoff": f"{self.initial_backoff_s}s",
                "maxBackoff": f"{self.max_backoff_s}s",
                "backoffMultiplier": self.multiplier,
                "retryableStatusCodes": ["UNAVAILABLE"],
            }
        return json.dumps({"methodConfig": [method]})


@dataclass(frozen=True)
class Connection:
    """Everything a client needs to reach the service.

    TLS is on when `tls` is set or any certificate file is given; `client_cert_file` and
    `client_key_file` together make it mutual TLS. The token goes out as
    `authorization: Bearer …` on every call; `token_file` is read for each call so a rotated
    (e.g. projected service account) token is picked up.
    """

    target: str = DEFAULT_TARGET
    tls: bool = False
    ca_file: Path | None = None
    client_cert_file: Path | None = None
    client_key_file: Path | None = None
    server_name: str | None = None
    token: str | None = None
    token_file: Path | None = None
    timeout_s: float = DEFAULT_TIMEOUT_S
    retry: RetryPolicy = field(default_factory=RetryPolicy)

    @property
    def uses_tls(self) -> bool:
        return self.tls or any(
            f is not None for f in (self.ca_file, self.client_cert_file, self.client_key_file)
        )

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        target: str | None = None,
        tls: bool | None = None,
        ca_file: Path | None = None,
        client_cert_file: Path | None = None,
        client_key_file: Path | None = None,
        server_name: str | None = None,
        token: str | None = None,
        token_file: Path | None = None,
        timeout_s: float | None = None,
        retry: RetryPolicy | None = None,
    ) -> Connection:
        """The one reading of the environment, for the library and the command alike.

        Each field comes from its argument when that is not None (a flag the user gave), else from
        its variable (ENV), else the default. A value that cannot be read (IMAGEPIN_TLS=maybe,
        IMAGEPIN_TIMEOUT=soon) is an InvalidArgument naming the variable, not a silent default: a
        mistyped IMAGEPIN_TLS must not send a token in plaintext.
        """
        env = os.environ if environ is None else environ

        def text(name: str) -> str | None:
            return env.get(ENV[name]) or None

        def path(name: str) -> Path | None:
            value = text(name)
            return Path(value) if value else None

        return cls(
            target=target or text("target") or DEFAULT_TARGET,
            tls=_yes_no(ENV["tls"], env.get(ENV["tls"], "")) if tls is None else tls,
            ca_file=ca_file or path("ca_file"),
            client_cert_file=client_cert_file or path("client_cert_file"),
            client_key_file=client_key_file or path("client_key_file"),
            server_name=server_name or text("server_name"),
            token=token or text("token"),
            token_file=token_file or path("token_file"),
            timeout_s=_seconds(ENV["timeout_s"], text("timeout_s"))
            if timeout_s is None
            else timeout_s,
            retry=retry or RetryPolicy(),
        )

    @classmethod
    def for_client(cls, target: str | None, connection: Connection | None) -> Connection:
        """What a client was given: `connection` (the environment's without one), at `target`
        when that is given too."""
        base = connection or cls.from_env()
        return base if target is None else replace(base, target=target)

    def credentials(self) -> grpc.ChannelCredentials | None:
        """TLS channel credentials, or None for a plaintext channel."""
        if not self.uses_tls:
            return None
        if (self.client_cert_file is None) != (self.client_key_file is None):
            raise make_error(
                grpc.StatusCode.INVALID_ARGUMENT,
                "mutual TLS needs both a client certificate and its key",
            )
        root = self.ca_file.read_bytes() if self.ca_file else None
        key = self.client_key_file.read_bytes() if self.client_key_file else None
        chain = self.client_cert_file.read_bytes() if self.client_cert_file else None
        return grpc.ssl_channel_credentials(
            root_certificates=root, private_key=key, certificate_chain=chain
        )

    def options(self) -> list[tuple[str, Any]]:
        """Channel options: retries by service config, message size bounds, TLS name override."""
        options: list[tuple[str, Any]] = [
            ("grpc.enable_retries", 1 if self.retry.max_attempts > 1 else 0),
            ("grpc.service_config", self.retry.service_config()),
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
        ]
        if self.server_name:
            options.append(("grpc.ssl_target_name_override", self.server_name))
        return options

    def token_source(self) -> Callable[[], str | None]:
        """The current bearer token (re-read from `token_file` on each call)."""
        token_file = self.token_file
        if token_file is not None:
            return lambda: token_file.read_text().strip() or None
        token = self.token
        return lambda: token

    def call_metadata(self) -> Callable[[], Metadata]:
        """Metadata for one call: the bearer token when there is one."""
        source = self.token_source()

        def metadata() -> Metadata:
            token = source()
            return (("authorization", f"Bearer {token}"),) if token else ()

        return metadata


# The one reading of the environment, by the name the command imports it.
connection_from_env = Connection.from_env


def _yes_no(name: str, value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise make_error(
        grpc.StatusCode.INVALID_ARGUMENT,
        f"{name}={value!r} is neither yes ({'/'.join(sorted(TRUE_WORDS))}) "
        f"nor no ({'/'.join(sorted(FALSE_WORDS - {''}))})",
    )


def _seconds(name: str, value: str | None) -> float:
    if value is None:
        return DEFAULT_TIMEOUT_S
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):  # also refuses nan
        raise make_error(
            grpc.StatusCode.INVALID_ARGUMENT, f"{name}={value!r} is not a number of seconds above 0"
        )
    return seconds
