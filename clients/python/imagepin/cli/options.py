"""Options every command that talks to the service shares, and turning failures into exits."""

from __future__ import annotations

import contextlib
import datetime
import functools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, NoReturn

import click

from imagepin.cli import exitcodes
from imagepin.connection import DEFAULT_TARGET, DEFAULT_TIMEOUT_S, Connection
from imagepin.errors import ImagepinError

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)

_CONNECTION_OPTIONS = (
    click.option(
        "--server",
        envvar="IMAGEPIN_SERVER",
        default=DEFAULT_TARGET,
        show_default=True,
        help="The imagepin service, host:port [env IMAGEPIN_SERVER].",
    ),
    click.option(
        "--tls/--no-tls",
        envvar="IMAGEPIN_TLS",
        default=False,
        help="Use TLS (implied by --ca-file, --cert) [env IMAGEPIN_TLS].",
    ),
    click.option(
        "--ca-file", envvar="IMAGEPIN_CA_FILE", type=_FILE, help="CA certificates (PEM) to trust."
    ),
    click.option(
        "--cert",
        "client_cert",
        envvar="IMAGEPIN_CLIENT_CERT",
        type=_FILE,
        help="Client certificate (PEM) for mutual TLS.",
    ),
    click.option(
        "--key",
        "client_key",
        envvar="IMAGEPIN_CLIENT_KEY",
        type=_FILE,
        help="Client key (PEM) for mutual TLS.",
    ),
    click.option(
        "--server-name", envvar="IMAGEPIN_SERVER_NAME", help="TLS name to expect from the server."
    ),
    click.option(
        "--token", envvar="IMAGEPIN_TOKEN", help="Bearer token [env IMAGEPIN_TOKEN].", default=None
    ),
    click.option(
        "--token-file",
        envvar="IMAGEPIN_TOKEN_FILE",
        type=_FILE,
        help="File holding the bearer token, re-read for every call.",
    ),
    click.option(
        "--timeout",
        envvar="IMAGEPIN_TIMEOUT",
        type=float,
        default=DEFAULT_TIMEOUT_S,
        show_default=True,
        help="Deadline of each call, in seconds.",
    ),
)

platform_option = click.option(
    "--platform", help="os/architecture[/variant], e.g. linux/arm64, for multi-platform images."
)
output_option = click.option(
    "--output",
    "-o",
    type=click.Choice(["table", "json"]),
    default="table",
    show_default=True,
    help="Table for people, JSON for scripts.",
)


_DURATION_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
MAX_DURATION = datetime.timedelta(days=3650)  # the service refuses longer ones
# Not IMAGEPIN_MAX_STALENESS: that is the server's default (in seconds), often in the same shell.
CLI_MAX_STALENESS_ENV = "IMAGEPIN_CLI_MAX_STALENESS"


def parse_duration(text: str) -> datetime.timedelta:
    """`0`, `90` (seconds), `30s`, `5m`, `1h30m`, `250ms`: durations as people write them."""
    value = text.strip().lower()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION_PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(f"{text!r} is not a duration (e.g. 0, 30s, 5m, 1h)") from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not 0 <= seconds <= MAX_DURATION.total_seconds():  # also refuses nan
        raise ValueError(f"{text!r} is not a duration from 0 to {MAX_DURATION.days} days")
    return datetime.timedelta(seconds=seconds)


def _duration_option(
    ctx: click.Context, param: click.Parameter, value: str | datetime.timedelta
) -> datetime.timedelta:
    """A click callback: the option's text (flag, environment or default) as a timedelta."""
    if isinstance(value, datetime.timedelta):
        return value
    try:
        return parse_duration(value)
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None


def max_staleness_option(*, default: str, envvar: str, why: str) -> Callable[..., Any]:
    """`--max-staleness`: how old a remembered tag answer the service may give (0: none)."""
    return click.option(
        "--max-staleness",
        envvar=envvar,
        metavar="DURATION",
        default=default,
        callback=_duration_option,
        show_default=True,
        help=(
            "Accept the service's remembered answer for a tag if it is at most this old "
            f"(0, 30s, 5m, 1h; 0 asks the registry every time). {why} [env {envvar}]."
        ),
    )


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection flags to a command; it receives them as one `connection` argument."""

    @functools.wraps(command)
    def wrapper(
        *args: Any,
        server: str,
        tls: bool,
        ca_file: Path | None,
        client_cert: Path | None,
        client_key: Path | None,
        server_name: str | None,
        token: str | None,
        token_file: Path | None,
        timeout: float,
        **kwargs: Any,
    ) -> Any:
        kwargs["connection"] = Connection(
            target=server,
            tls=tls,
            ca_file=ca_file,
            client_cert_file=client_cert,
            client_key_file=client_key,
            server_name=server_name,
            token=token,
            token_file=token_file,
            timeout_s=timeout,
        )
        return command(*args, **kwargs)

    for option in reversed(_CONNECTION_OPTIONS):
        wrapper = option(wrapper)
    return wrapper


def fail(message: str, code: int) -> NoReturn:
    """Say what went wrong on stderr and exit with `code`."""
    click.echo(f"imagepin: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def service_errors() -> Iterator[None]:
    """Turn a failed call into a message and the exit code for its status."""
    try:
        yield
    except ImagepinError as error:
        fail(str(error), exitcodes.for_status(error.code.name))
    except ValueError as error:  # a malformed platform, certificate file pair…
        fail(str(error), exitcodes.INVALID)
