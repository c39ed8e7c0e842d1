"""Settings: defaults, overridden by environment variables, overridden by command-line flags."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

DEFAULT_LISTEN = "127.0.0.1:50051"
DEFAULT_DATABASE_URL = "sqlite:///imagepin.db"
DEFAULT_SHUTDOWN_GRACE_S = 10.0


class SettingsError(ValueError):
    """A setting has a value imagepin cannot use; the message names the setting."""


@dataclass(frozen=True, slots=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    database_url: str = DEFAULT_DATABASE_URL
    migrate_on_start: bool = True
    insecure_registries: tuple[str, ...] = ()
    docker_config: Path | None = None  # None: $DOCKER_CONFIG/config.json or ~/.docker/config.json
    ca_file: Path | None = None  # extra CAs trusted for registries, beside the system's
    log_level: str = "INFO"
    shutdown_grace_s: float = DEFAULT_SHUTDOWN_GRACE_S
    max_staleness_s: float = 30.0
    stale_if_error_s: float = 3600.0
    max_stale_if_error_s: float = 86400.0
    rollout_retention_s: float = 7 * 86400.0
    negative_age_s: float = 10.0  # NOT_FOUND / refused credentials remembered this long
    max_negative_age_s: float = 60.0  # the most a request's max_negative_age may ask for
    index_layers: bool = False  # background indexing of resolved tags spends registry GETs
    index_layers_budget: int = 30  # ... at most this many a minute
    content_max_ratio: float = 100.0  # VerifyDigest CONTENT: inflate bounds (core/layer_content)
    content_max_bytes: int = 16 * 1024**3
    db_pool_size: int = 5
    db_max_overflow: int = 10
    metrics_listen: str | None = None
    workers: int = 1
    event_loop: str = "auto"  # "auto" (uvloop when installed), "uvloop" or "asyncio"
    registries_config: Path | None = None  # the registries file (registry/config.py)
    trust_policies_file: Path | None = None  # signature trust policies (core/trust.py)
    tls_cert_file: Path | None = None  # serve TLS with this certificate and key
    tls_key_file: Path | None = None
    tls_client_ca_file: Path | None = None  # require client certificates signed by this CA
    auth_tokens_file: Path | None = None  # require one of these bearer tokens
    access_log: str = "sampled"  # "all", "sampled" (cache hits sampled) or "errors"
    access_log_sample_rate: float = 0.01  # the share of successful cache hits logged
    follow_retention_s: float = (
        3600.0  # a watched tag stays followed this long after its last watch
    )
    notifications_listen: str | None = None  # HOST:PORT for registry notifications; off when None
    notifications_tokens_file: Path | None = None  # bearer tokens the notifying registries send

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> Settings:
        """Read `IMAGEPIN_*` variables; unset ones keep their defaults."""
        env = os.environ if env is None else env
        return cls(
            listen=env.get("IMAGEPIN_LISTEN", DEFAULT_LISTEN),
            database_url=env.get("IMAGEPIN_DATABASE_URL", DEFAULT_DATABASE_URL),
            migrate_on_start=_bool(env, "IMAGEPIN_MIGRATE_ON_START", default=True),
            insecure_registries=_list(env.get("IMAGEPIN_INSECURE_REGISTRIES", "")),
            docker_config=_path(env.get("IMAGEPIN_DOCKER_CONFIG")),
            ca_file=_path(env.get("IMAGEPIN_REGISTRY_CA_FILE")),
            log_level=env.get("IMAGEPIN_LOG_LEVEL", "INFO").upper(),
            shutdown_grace_s=_float(env, "IMAGEPIN_SHUTDOWN_GRACE", DEFAULT_SHUTDOWN_GRACE_S),
            max_staleness_s=_float(env, "IMAGEPIN_MAX_STALENESS", 30.0),
            stale_if_error_s=_float(env, "IMAGEPIN_STALE_IF_ERROR", 3600.0),
            max_stale_if_error_s=_float(env, "IMAGEPIN_MAX_STALE_IF_ERROR", 86400.0),
            rollout_retention_s=_float(env, "IMAGEPIN_ROLLOUT_RETENTION", 7 * 86400.0),
            negative_age_s=_float(env, "IMAGEPIN_NEGATIVE_AGE", 10.0),
            max_negative_age_s=_float(env, "IMAGEPIN_MAX_NEGATIVE_AGE", 60.0),
            index_layers=_bool(env, "IMAGEPIN_INDEX_LAYERS", default=False),
            index_layers_budget=_int(env, "IMAGEPIN_INDEX_LAYERS_BUDGET", 30),
            content_max_ratio=_float(env, "IMAGEPIN_CONTENT_MAX_RATIO", 100.0),
            content_max_bytes=_int(env, "IMAGEPIN_CONTENT_MAX_BYTES", 16 * 1024**3),
            db_pool_size=_int(env, "IMAGEPIN_DB_POOL_SIZE", 5),
            db_max_overflow=_int(env, "IMAGEPIN_DB_MAX_OVERFLOW", 10),
            metrics_listen=env.get("IMAGEPIN_METRICS_LISTEN") or None,
            workers=_int(env, "IMAGEPIN_WORKERS", 1),
            event_loop=env.get("IMAGEPIN_EVENT_LOOP", "auto").lower(),
            registries_config=_path(env.get("IMAGEPIN_REGISTRIES_CONFIG")),
            trust_policies_file=_path(env.get("IMAGEPIN_TRUST_POLICIES_FILE")),
            tls_cert_file=_path(env.get("IMAGEPIN_TLS_CERT_FILE")),
            tls_key_file=_path(env.get("IMAGEPIN_TLS_KEY_FILE")),
            tls_client_ca_file=_path(env.get("IMAGEPIN_TLS_CLIENT_CA_FILE")),
            auth_tokens_file=_path(env.get("IMAGEPIN_AUTH_TOKENS_FILE")),
            access_log=env.get("IMAGEPIN_ACCESS_LOG", "sampled").lower(),
            access_log_sample_rate=_float(env, "IMAGEPIN_ACCESS_LOG_SAMPLE_RATE", 0.01),
            follow_retention_s=_float(env, "IMAGEPIN_FOLLOW_RETENTION", 3600.0),
            notifications_listen=env.get("IMAGEPIN_NOTIFICATIONS_LISTEN") or None,
            notifications_tokens_file=_path(env.get("IMAGEPIN_NOTIFICATIONS_TOKENS_FILE")),
        )

    def validate(self) -> Settings:
        """Fail at start, with the setting's name, rather than on the first request."""
        _host_port(self.listen, "IMAGEPIN_LISTEN / --listen")
        if self.ca_file is not None and not self.ca_file.is_file():
            raise SettingsError(f"IMAGEPIN_REGISTRY_CA_FILE {self.ca_file}: no such file")
        if self.log_level not in {"DEBUG", "INFO", "WARNING", "ERROR"}:
            raise SettingsError(
                f"IMAGEPIN_LOG_LEVEL {self.log_level!r}: use DEBUG, INFO, WARNING or ERROR"
            )
        if self.shutdown_grace_s < 0:
            raise SettingsError("IMAGEPIN_SHUTDOWN_GRACE must not be negative")
        for name, value in (
            ("IMAGEPIN_MAX_STALENESS", self.max_staleness_s),
            ("IMAGEPIN_STALE_IF_ERROR", self.stale_if_error_s),
            ("IMAGEPIN_MAX_STALE_IF_ERROR", self.max_stale_if_error_s),
            ("IMAGEPIN_NEGATIVE_AGE", self.negative_age_s),
            ("IMAGEPIN_MAX_NEGATIVE_AGE", self.max_negative_age_s),
        ):
            if value < 0:
                raise SettingsError(f"{name} must not be negative")
        if self.rollout_retention_s <= 0:
            raise SettingsError("IMAGEPIN_ROLLOUT_RETENTION must be a positive number of seconds")
        if self.content_max_ratio < 1 or self.content_max_bytes < 1:
            raise SettingsError(
                "IMAGEPIN_CONTENT_MAX_RATIO must be at least 1, IMAGEPIN_CONTENT_MAX_BYTES positive"
            )
        if not 1 <= self.workers <= 64:
            raise SettingsError(f"IMAGEPIN_WORKERS / --workers {self.workers}: use 1 to 64")
        if self.workers > 1 and self.listen.endswith(":0"):
            raise SettingsError("--workers above 1 needs a fixed port to share (not :0)")
        if self.metrics_listen is not None:
            _host_port(self.metrics_listen, "IMAGEPIN_METRICS_LISTEN / --metrics-listen")
        if self.db_pool_size < 1 or self.db_max_overflow < 0:
            raise SettingsError("IMAGEPIN_DB_POOL_SIZE must be >= 1, IMAGEPIN_DB_MAX_OVERFLOW >= 0")
        if self.event_loop not in {"auto", "uvloop", "asyncio"}:
            raise SettingsError(
                f"IMAGEPIN_EVENT_LOOP {self.event_loop!r}: use auto, uvloop or asyncio"
            )
        if self.index_layers_budget < 1:
            raise SettingsError("IMAGEPIN_INDEX_LAYERS_BUDGET must be at least 1 (GETs a minute)")
        if self.access_log not in {"all", "sampled", "errors"}:
            raise SettingsError(
                f"IMAGEPIN_ACCESS_LOG {self.access_log!r}: use all, sampled or errors"
            )
        if not 0 <= self.access_log_sample_rate <= 1:
            raise SettingsError("IMAGEPIN_ACCESS_LOG_SAMPLE_RATE must be between 0 and 1")
        if self.follow_retention_s <= 0:
            raise SettingsError("IMAGEPIN_FOLLOW_RETENTION must be a positive number of seconds")
        self._validate_notifications()
        self._validate_caller_auth()
        self._validate_trust_policies()
        return self

    def _validate_caller_auth(self) -> None:
        for name, path in (
            ("IMAGEPIN_TLS_CERT_FILE / --tls-cert-file", self.tls_cert_file),
            ("IMAGEPIN_TLS_KEY_FILE / --tls-key-file", self.tls_key_file),
            ("IMAGEPIN_TLS_CLIENT_CA_FILE / --tls-client-ca-file", self.tls_client_ca_file),
            ("IMAGEPIN_AUTH_TOKENS_FILE / --auth-tokens-file", self.auth_tokens_file),
        ):
            if path is not None and not path.is_file():
                raise SettingsError(f"{name} {path}: no such file")
        if self.auth_tokens_file is not None:
            _require_tokens(self.auth_tokens_file, "IMAGEPIN_AUTH_TOKENS_FILE")
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise SettingsError("IMAGEPIN_TLS_CERT_FILE and IMAGEPIN_TLS_KEY_FILE go together")
        if self.tls_client_ca_file is not None and self.tls_cert_file is None:
            raise SettingsError("IMAGEPIN_TLS_CLIENT_CA_FILE needs TLS (IMAGEPIN_TLS_CERT_FILE)")

    def _validate_notifications(self) -> None:
        if self.notifications_listen is None:
            return
        _host_port(
            self.notifications_listen, "IMAGEPIN_NOTIFICATIONS_LISTEN / --notifications-listen"
        )
        tokens = self.notifications_tokens_file
        if tokens is None:
            raise SettingsError(
                "IMAGEPIN_NOTIFICATIONS_LISTEN needs IMAGEPIN_NOTIFICATIONS_TOKENS_FILE: "
                "notifications are accepted only with one of its bearer tokens"
            )
        if not tokens.is_file():
            raise SettingsError(f"IMAGEPIN_NOTIFICATIONS_TOKENS_FILE {tokens}: no such file")
        _require_tokens(tokens, "IMAGEPIN_NOTIFICATIONS_TOKENS_FILE")

    def _validate_trust_policies(self) -> None:
        """The trust policies file is read whole now, like the registries file."""
        from imagepin_server.core.trust import TrustPolicyError, load_trust_policies

        try:
            load_trust_policies(self.trust_policies_file)
        except TrustPolicyError as exc:
            raise SettingsError(f"IMAGEPIN_TRUST_POLICIES_FILE: {exc}") from exc


def _require_tokens(path: Path, name: str) -> None:
    """A token file must hold at least one token (a line that is not blank or a # comment)."""
    lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    if not any(line.strip() and not line.strip().startswith("#") for line in lines):
        raise SettingsError(f"{name} {path}: no tokens in it")


def _host_port(text: str, name: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 <= int(port) <= 65535:
        raise SettingsError(f"{name} {text!r}: expected HOST:PORT")
    return host.strip("[]"), int(port)


def metrics_address(settings: Settings) -> tuple[str, int] | None:
    if settings.metrics_listen is None:
        return None
    return _host_port(settings.metrics_listen, "IMAGEPIN_METRICS_LISTEN")


def _list(text: str) -> tuple[str, ...]:
    return tuple(item.strip() for item in text.split(",") if item.strip())


def _path(text: str | None) -> Path | None:
    return Path(text) if text else None


def _bool(env: Mapping[str, str], name: str, *, default: bool) -> bool:
    text = env.get(name)
    if text is None or text == "":
        return default
    if text.lower() in {"1", "true", "yes", "on"}:
        return True
    if text.lower() in {"0", "false", "no", "off"}:
        return False
    raise SettingsError(f"{name} {text!r}: use true or false")


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    text = env.get(name)
    if not text:
        return default
    try:
        return float(text)
    except ValueError as exc:
        raise SettingsError(f"{name} {text!r}: expected a number of seconds") from exc


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    text = env.get(name)
    if not text:
        return default
    try:
        return int(text)
    except ValueError as exc:
        raise SettingsError(f"{name} {text!r}: expected a whole number") from exc
