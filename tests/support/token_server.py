"""A small Docker registry token server (the `auth.token` protocol), for tests.

Implements `GET <realm>?service=…&scope=repository:NAME:pull,push&account=…` from
https://distribution.github.io/distribution/spec/auth/token/ with JWTs as described in jwt.md.
Tokens are ES256 JWTs whose header carries the signing certificate in `x5c`; the registry is
configured with `rootcertbundle` = the CA that issued that certificate, and verifies the chain.

The realm is plain HTTP on loopback. The imagepin service will require https realms unless it is
configured to allow insecure ones, so tests using this server must opt in to that.
"""

from __future__ import annotations

import base64
import contextlib
import datetime
import json
import secrets
import threading
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from tests.support.pki import CA, IssuedCert, issue_cert, make_ca

DEFAULT_SERVICE = "imagepin-test-registry"
DEFAULT_ISSUER = "imagepin-test-token-issuer"
TOKEN_PATH = "/token"
_ALL_ACTIONS = frozenset({"pull", "push", "delete", "*"})


@dataclass(frozen=True)
class Scope:
    """One requested scope, `type:name:action,action`."""

    type: str
    name: str
    actions: tuple[str, ...]

    @classmethod
    def parse(cls, text: str) -> Scope:
        # Names may contain ':' only in the registry host part, which never appears here, but
        # split from the right anyway as the spec's reference implementation does.
        type_and_name, _, actions = text.rpartition(":")
        type_, _, name = type_and_name.partition(":")
        return cls(type_, name, tuple(a for a in actions.split(",") if a))


@dataclass(frozen=True)
class TokenRequest:
    """What the token server saw in one request, so tests can assert on client behaviour."""

    method: str
    path: str
    service: str | None
    account: str | None
    username: str | None  # claimed in HTTP Basic credentials (even if wrong); None if anonymous
    scopes: tuple[Scope, ...]
    status: int
    granted: tuple[dict[str, Any], ...] = ()


@dataclass
class TokenServer:
    """A running token server; start one with `launch_token_server`.

    Policy: `users` maps username -> password. A request with correct Basic credentials is granted
    every requested action among pull/push/delete/* on whatever it names. An anonymous request
    (no Authorization header) is granted `pull` on repositories in `public_repositories` and
    nothing else; it still gets a token, with `access: []`, as real token servers do. Wrong
    credentials get 401. Both `users` and `public_repositories` may be changed while running.
    """

    url: str  # the realm, e.g. "http://127.0.0.1:PORT/token"
    service: str
    issuer: str
    signing_ca: CA  # configure the registry's `rootcertbundle` with `signing_ca.cert_path`
    signing_cert: IssuedCert
    users: dict[str, str]
    public_repositories: set[str]
    expires_in: int = 300  # seconds; distribution allows 60 s of leeway past `exp`
    requests: list[TokenRequest] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    @property
    def rootcertbundle(self) -> Path:
        return self.signing_ca.cert_path

    def registry_auth_config(self) -> dict[str, Any]:
        """The `auth` section a docker-registry needs to trust this server's tokens."""
        return {
            "token": {
                "realm": self.url,
                "service": self.service,
                "issuer": self.issuer,
                "rootcertbundle": str(self.rootcertbundle),
            }
        }

    @property
    def request_count(self) -> int:
        """How many requests (any outcome) this server has answered."""
        with self._lock:
            return len(self.requests)

    @property
    def tokens_issued(self) -> int:
        """How many requests got a token (status 200)."""
        with self._lock:
            return sum(1 for r in self.requests if r.status == 200)

    def snapshot(self) -> list[TokenRequest]:
        """A copy of the request log."""
        with self._lock:
            return list(self.requests)

    def reset(self) -> None:
        """Forget the request log (the server is session-scoped; tests count from a reset)."""
        with self._lock:
            self.requests.clear()

    def add_public_repository(self, name: str) -> None:
        """Let anonymous clients pull `name`."""
        with self._lock:
            self.public_repositories.add(name)

    def issue_token(
        self, subject: str, access: list[dict[str, Any]], *, expires_in: int | None = None
    ) -> str:
        """Sign a JWT for `subject` with `access`; exposed so tests can mint tokens directly."""
        now = int(time.time())
        ttl = self.expires_in if expires_in is None else expires_in
        header = {
            "typ": "JWT",
            "alg": "ES256",
            "x5c": [
                base64.b64encode(
                    self.signing_cert.cert.public_bytes(serialization.Encoding.DER)
                ).decode("ascii")
            ],
        }
        claims = {
            "iss": self.issuer,
            "sub": subject,
            "aud": self.service,
            "exp": now + ttl,
            "nbf": now - 1,
            "iat": now,
            "jti": secrets.token_hex(16),
            "access": access,
        }
        signing_input = f"{_b64url_json(header)}.{_b64url_json(claims)}".encode("ascii")
        der = self.signing_cert.key.sign(signing_input, ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")  # JWS wants raw r||s
        return f"{signing_input.decode('ascii')}.{_b64url(signature)}"

    # Called from the handler thread.
    def _grant(self, username: str | None, scopes: Iterable[Scope]) -> list[dict[str, Any]]:
        granted: list[dict[str, Any]] = []
        with self._lock:
            public = set(self.public_repositories)
        for scope in scopes:
            if username is not None:
                actions = [a for a in scope.actions if a in _ALL_ACTIONS]
            elif scope.type == "repository" and scope.name in public:
                actions = [a for a in scope.actions if a == "pull"]
            else:
                actions = []
            if actions:
                granted.append({"type": scope.type, "name": scope.name, "actions": actions})
        return granted

    def _record(self, request: TokenRequest) -> None:
        with self._lock:
            self.requests.append(request)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_json(value: dict[str, Any]) -> str:
    return _b64url(json.dumps(value, separators=(",", ":")).encode("utf-8"))


def _make_handler(server: TokenServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            scopes = tuple(Scope.parse(s) for raw in query.get("scope", []) for s in raw.split(" "))
            service = _first(query.get("service"))

            def record(status: int, username: str | None, granted: list[dict[str, Any]]) -> None:
                server._record(
                    TokenRequest(
                        method="GET",
                        path=parts.path,
                        service=service,
                        account=_first(query.get("account")),
                        username=username,
                        scopes=scopes,
                        status=status,
                        granted=tuple(granted),
                    )
                )

            if parts.path != TOKEN_PATH:
                record(404, None, [])
                self._send(404, {"errors": [{"code": "NOT_FOUND", "message": parts.path}]})
                return
            if service is not None and service != server.service:
                record(400, None, [])
                self._send(400, {"errors": [{"code": "UNSUPPORTED", "message": "unknown service"}]})
                return
            username, ok = self._authenticate()
            if not ok:
                record(401, username, [])
                self._send(
                    401,
                    {"errors": [{"code": "UNAUTHORIZED", "message": "bad credentials"}]},
                    {"WWW-Authenticate": 'Basic realm="imagepin-test-token-server"'},
                )
                return
            granted = server._grant(username, scopes)
            token = server.issue_token(username or "", granted)
            issued_at = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
            record(200, username, granted)
            self._send(
                200,
                {
                    "token": token,
                    "access_token": token,
                    "expires_in": server.expires_in,
                    "issued_at": issued_at,
                },
            )

        def _authenticate(self) -> tuple[str | None, bool]:
            header = self.headers.get("Authorization")
            if header is None:
                return None, True
            kind, _, value = header.partition(" ")
            if kind.lower() != "basic":
                return None, False
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
            except ValueError:
                return None, False
            username, sep, password = decoded.partition(":")
            expected = server.users.get(username)
            good = bool(sep) and expected is not None and secrets.compare_digest(expected, password)
            return username, good

        def _send(
            self, status: int, body: dict[str, Any], headers: dict[str, str] | None = None
        ) -> None:
            data = json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # the request log lives in TokenServer.requests

    return Handler


def _first(values: list[str] | None) -> str | None:
    return values[0] if values else None


class _ThreadingServer(ThreadingHTTPServer):
    daemon_threads = True


@contextlib.contextmanager
def launch_token_server(
    workdir: Path,
    *,
    users: dict[str, str],
    public_repositories: Iterable[str] = (),
    service: str = DEFAULT_SERVICE,
    issuer: str = DEFAULT_ISSUER,
    expires_in: int = 300,
    signing_ca: CA | None = None,
) -> Iterator[TokenServer]:
    """Serve tokens on a free loopback port (in a thread) until the block exits.

    A dedicated signing CA is created in `workdir` unless one is given, so token trust stays
    separate from TLS trust as it would in a real deployment.
    """
    ca = signing_ca or make_ca(workdir / "signing-ca", common_name="imagepin test token CA")
    signing_cert = issue_cert(ca, workdir / "signing", common_name=issuer, name="token-signer")
    token_server = TokenServer(
        url="",
        service=service,
        issuer=issuer,
        signing_ca=ca,
        signing_cert=signing_cert,
        users=dict(users),
        public_repositories=set(public_repositories),
        expires_in=expires_in,
    )
    http = _ThreadingServer(("127.0.0.1", 0), _make_handler(token_server))
    token_server.url = f"http://127.0.0.1:{http.server_address[1]}{TOKEN_PATH}"
    thread = threading.Thread(target=http.serve_forever, name="token-server", daemon=True)
    thread.start()
    try:
        yield token_server
    finally:
        http.shutdown()
        http.server_close()
        thread.join(timeout=5)
