"""Options every command that talks to the service shares, and turning failures into exits."""

from __future__ import annotations

import contextlib
import datetime
import functools
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final, NoReturn

import click

from imagepin.cli import exitcodes
from imagepin.connection import (
    DEFAULT_TARGET,
    DEFAULT_TIMEOUT_S,
    ENV,
    Connection,
    connection_from_env,
)
from imagepin.errors import ImagepinError, InvalidArgument, ServiceUnreachable
from imagepin.platforms import format_platform, parse_platform

_FILE = click.Path(exists=True, dir_okay=False, path_type=Path)


class EnvOption(click.Option):
    """An option whose variable is shown in --help but read by connection_from_env, so the
    command and the library read the environment one way (IMAGEPIN_TLS=on is TLS to both)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("show_envvar", True)
        super().__init__(*args, **kwargs)

    def resolve_envvar_value(self, ctx: click.Context) -> str | None:
        return None


def _env_option(flag: str, field: str, **attrs: Any) -> Callable[..., Any]:
    """A connection flag, passed on as `field` (Connection's name for it), its variable ENV's."""
    return click.option(flag, field, cls=EnvOption, envvar=ENV[field], default=None, **attrs)


_CONNECTION_OPTIONS = (
    _env_option(
        "--server",
        "target",
        help=f"The imagepin service, host:port (default {DEFAULT_TARGET}).",
    ),
    _env_option(
        "--tls/--no-tls",
        "tls",
        help="Use TLS (implied by --ca-file, --cert); env: 1/true/yes/on or 0/false/no/off.",
    ),
    _env_option("--ca-file", "ca_file", type=_FILE, help="CA certificates (PEM) to trust."),
    _env_option(
        "--cert",
        "client_cert_file",
        type=_FILE,
        help="Client certificate (PEM) for mutual TLS.",
    ),
    _env_option(
        "--key",
        "client_key_file",
        type=_FILE,
        help="Client key (PEM) for mutual TLS.",
    ),
    _env_option("--server-name", "server_name", help="TLS name to expect from the server."),
    _env_option("--token", "token", help="Bearer token."),
    _env_option(
        "--token-file",
        "token_file",
        type=_FILE,
        help="File holding the bearer token, re-read for every call.",
    ),
    _env_option(
        "--timeout",
        "timeout_s",
        type=click.FloatRange(min=0, min_open=True),
        help=f"Deadline of each call, in seconds (default {DEFAULT_TIMEOUT_S:g}).",
    ),
)


def _platform_option(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: the platform as Docker spells it, in its canonical form, or a usage
    error naming it."""
    if value is None:
        return None
    try:
        return format_platform(parse_platform(value))
    except InvalidArgument as error:
        raise click.BadParameter(error.message, ctx, param) from None


platform_option = click.option(
    "--platform",
    callback=_platform_option,
    help="[os/]architecture[/variant] as Docker takes it (linux/arm64, arm64, aarch64, "
    "linux/arm/v7), for multi-platform images.",
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


def _given_flags(params: dict[str, Any]) -> dict[str, Any]:
    """Take the connection flags out of a command's parameters (named as Connection's fields,
    see ENV); only those given on the command line, by field."""
    taken = {name: params.pop(name) for name in ENV}
    return {name: value for name, value in taken.items() if value is not None}


_GROUP_FLAGS: Final = "imagepin.connection_flags"


def with_connection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection flags (server, TLS, token, timeout) to a command or the group."""
    for option in reversed(_CONNECTION_OPTIONS):
        function = option(function)
    return function


def group_connection_options(group: Callable[..., Any]) -> Callable[..., Any]:
    """The connection flags before the subcommand (`imagepin --server X resolve …`), kept for
    the subcommand, whose own flags come later on the line and so win."""

    @functools.wraps(group)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        click.get_current_context().meta[_GROUP_FLAGS] = _given_flags(kwargs)
        return group(*args, **kwargs)

    return with_connection_options(wrapper)


def connection_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the connection flags to a command; it receives them as one `connection` argument."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        earlier = click.get_current_context().meta.get(_GROUP_FLAGS, {})
        kwargs["connection"] = cli_connection({**earlier, **_given_flags(kwargs)})
        return command(*args, **kwargs)

    return with_connection_options(wrapper)


def cli_connection(given: dict[str, Any]) -> Connection:
    """The flags given (by Connection field), the environment for the rest (as the library
    reads it), or a usage error naming the variable that cannot be read or the missing file."""
    try:
        connection = connection_from_env(**given)
    except InvalidArgument as error:
        raise click.UsageError(error.message) from None
    for field in ("ca_file", "client_cert_file", "client_key_file", "token_file"):
        file: Path | None = getattr(connection, field)
        if file is not None and not file.is_file():
            raise click.UsageError(f"{ENV[field]}: file {str(file)!r} does not exist")
    return connection


def fail(message: str, code: int) -> NoReturn:
    """Say what went wrong on stderr and exit with `code`."""
    click.echo(f"imagepin: {message}", err=True)
    sys.exit(code)


@contextlib.contextmanager
def service_errors() -> Iterator[None]:
    """Turn a failed call into a message and the exit code for its status."""
    try:
        yield
    except ServiceUnreachable as error:  # its message says what to check: no status prefix
        fail(error.message, exitcodes.UNAVAILABLE)
    except ImagepinError as error:
        fail(str(error), exitcodes.for_status(error.code.name))
    except ValueError as error:  # what gRPC itself refuses (e.g. a token it cannot send)
        fail(str(error), exitcodes.INVALID)
