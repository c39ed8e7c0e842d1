"""`imagepin pin`: pin every image a release names by digest, or check that it is (CI)."""

from __future__ import annotations

import contextlib
import datetime
import os
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn

from imagepin import messages
from imagepin.cli import exitcodes
from imagepin.cli.options import (
    CLI_MAX_STALENESS_ENV,
    connection_options,
    fail,
    max_staleness_option,
    platform_option,
    service_errors,
)
from imagepin.client import ResolverClient
from imagepin.connection import Connection
from imagepin.pin import plan
from imagepin.pin import update as pin_update
from imagepin.pin.formats import is_candidate, scan_text
from imagepin.pin.lockfile import LockEntry, read_lock, write_lock
from imagepin.pin.references import is_pinned
from imagepin.pin.rewrite import rewrite
from imagepin.pin.sites import ImageSite, Note, ScanError
from imagepin.v1 import resolver_pb2


@dataclass
class Document:
    """One input: its original text and the images in it."""

    path: Path | None  # None for stdin
    text: str
    sites: list[ImageSite]
    notes: list[Note]
    format: str

    @property
    def name(self) -> str:
        return str(self.path) if self.path else "<stdin>"


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(allow_dash=True, path_type=Path))
@click.option("--in-place", "-i", is_flag=True, help="Rewrite the files instead of printing.")
@click.option(
    "--check",
    is_flag=True,
    help=(
        "Change nothing; exit 1 listing every image unpinned or whose tag has moved "
        "(or the code of the failure when an image cannot be resolved)."
    ),
)
@click.option(
    "--update",
    is_flag=True,
    help=(
        "Also re-pin images already pinned whose tag has moved, keeping the kind of pin (an "
        "index stays an index, a platform's image the image for that platform); with --lock, "
        "refresh the lock file's entries too, each for its own platform."
    ),
)
@click.option(
    "--lock",
    "lock_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write what was resolved (reference, digest, when) to this file.",
)
@click.option(
    "--from-lock",
    "from_lock_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Pin from this lock file without asking the service or any registry.",
)
@platform_option
@max_staleness_option(
    default="0",
    envvar=CLI_MAX_STALENESS_ENV,
    why="A release must not be pinned to the build before a push.",
)
@connection_options
def pin(
    paths: tuple[Path, ...],
    in_place: bool,
    check: bool,
    update: bool,
    lock_path: Path | None,
    from_lock_path: Path | None,
    platform: str | None,
    max_staleness: datetime.timedelta,
    connection: Connection,
) -> None:
    """Pin every image in manifests (files, directories, - for stdin) by digest.

    Prints the input with every image pinned, or rewrites it with --in-place.

    Kubernetes objects (containers of Pods, Deployments, StatefulSets, DaemonSets, ReplicaSets,
    Jobs, CronJobs, ReplicationControllers, PodTemplates; image volumes), docker-compose
    services, kustomize `images:` (a `digest:` is written), Dockerfile FROM and COPY --from,
    GitHub Actions job containers and services: each image becomes `name:tag@sha256:…`, and
    every other byte stays as it was. Already-pinned images are checked, not changed, unless
    --update: then a pin whose tag has moved is re-pinned to the same kind of digest, each change
    reported on stderr.
    Findings name file and line. Exit codes: 0 done, 1 --check found unpinned or moved images,
    3 an image was not found, 4 invalid or unreadable input, 5 the service or a registry could not
    answer (also with --check: a failed lookup's code wins over 1).
    """
    if in_place and any(str(p) == "-" for p in paths):
        fail("--in-place cannot rewrite stdin", exitcodes.USAGE)
    if from_lock_path and (check or lock_path or update):
        fail("--from-lock pins without asking anyone; it cannot --check, --update or --lock", 2)
    if update and check:
        fail("--update changes pins and --check changes nothing: give one", exitcodes.USAGE)
    previous_lock = _previous_lock(lock_path) if update and lock_path is not None else {}
    updates: list[pin_update.Update] = []
    with _progress() as progress:
        files = _expand(paths)
        reading = progress.add_task("reading manifests", total=len(files))
        documents = []
        for path in files:
            documents.append(_read(path))
            progress.advance(reading)
        for document in documents:
            if not document.sites and not document.notes:
                what = "" if document.format else " (not a format imagepin pin reads)"
                click.echo(f"imagepin: {document.name}: no image{what}", err=True)
        sites = [site for document in documents for site in document.sites]
        images = plan.unique_images(sites)
        if from_lock_path is not None:
            try:
                outcomes = plan.from_lock(images, read_lock(from_lock_path))
            except ValueError as error:
                fail(str(error), exitcodes.INVALID)
        else:
            resolving = progress.add_task(f"resolving {len(images)} images", total=len(images))
            queries = [
                _query(image, previous_lock.get(image), max_staleness, platform) for image in images
            ]
            with service_errors(), ResolverClient(connection=connection) as client:
                results = (
                    client.resolve_all(queries, platform=platform, max_staleness=max_staleness)
                    if queries
                    else []
                )
                progress.advance(resolving, len(images))
                outcomes = _with_lock_platforms(plan.from_results(images, results), previous_lock)
                if update:
                    outcomes, updates = pin_update.refresh(
                        client, outcomes, max_staleness=max_staleness
                    )

    if check:
        sys.exit(_report_check(documents, outcomes))
    failed = [o for o in outcomes.values() if o.status is plan.Status.FAILED]
    for site in _sites(documents, outcomes, plan.Status.FAILED):
        outcome = outcomes[site.image]
        where = f" ({site.where})" if site.where else ""
        click.echo(
            f"imagepin: {site.location}: cannot pin {site.image}{where}: {outcome.error}", err=True
        )
    if failed:
        sys.exit(exitcodes.for_status(failed[0].error_code))
    for site in _sites(documents, outcomes, plan.Status.MOVED):
        click.echo(
            f"imagepin: {site.location}: warning: {site.image}: its tag now points at "
            f"{outcomes[site.image].digest} (left as it is)",
            err=True,
        )
    _report_updates(documents, outcomes, updates)
    for note in (note for document in documents for note in document.notes):
        click.echo(f"imagepin: {note.location}: {note.message}", err=True)
    if lock_path is not None:
        entries = plan.lock_entries(outcomes.values(), platform or "")
        if update:
            entries = _refreshed_lock(lock_path, previous_lock, entries)
        write_lock(lock_path, entries)
    for index, document in enumerate(documents):
        new_text = rewrite(document.text, plan.replacements(document.sites, outcomes))
        if in_place:
            if new_text != document.text and document.path is not None:
                try:
                    _write_atomically(document.path, new_text)
                except OSError as error:  # a read-only directory, a full disk: say so
                    fail(
                        f"cannot write {document.path}: {error.strerror or error}", exitcodes.ERROR
                    )
        else:
            if index > 0:
                sys.stdout.write("---\n")
            sys.stdout.write(new_text)
            if len(documents) > 1 and not new_text.endswith("\n"):
                sys.stdout.write("\n")
    sys.stdout.flush()


def _query(
    image: str,
    locked: LockEntry | None,
    max_staleness: datetime.timedelta,
    platform: str | None,
) -> str | resolver_pb2.ResolveReferenceRequest:
    """An image resolves for the command's platform, or (--update) for its lock entry's own. A
    pinned one also asks for the index's children: a pin to one of them is no move."""
    query = plan.query_for(image)
    if is_pinned(image):
        return messages.resolve_request(query, platform, max_staleness, include_children=True)
    if locked is None or not locked.platform:
        return query
    return messages.resolve_request(query, locked.platform, max_staleness, None)


def _previous_lock(path: Path) -> dict[str, LockEntry]:
    if not path.exists():
        return {}
    try:
        return read_lock(path)
    except ValueError as error:
        fail(str(error), exitcodes.INVALID)


def _with_lock_platforms(
    outcomes: dict[str, plan.Outcome], previous: dict[str, LockEntry]
) -> dict[str, plan.Outcome]:
    """Outcomes that were resolved for their lock entry's platform say so (for the new lock)."""
    for image, entry in previous.items():
        if image in outcomes and entry.platform and not is_pinned(image):
            outcomes[image] = replace(outcomes[image], platform=entry.platform)
    return outcomes


def _report_updates(
    documents: list[Document],
    outcomes: dict[str, plan.Outcome],
    updates: list[pin_update.Update],
) -> None:
    """Each pin --update changed, where it is, on stderr."""
    kinds = {change.image: change.kind for change in updates}
    for site in _sites(documents, outcomes, plan.Status.UPDATED):
        outcome = outcomes[site.image]
        click.echo(
            f"imagepin: {site.location}: updated: {site.image} -> {outcome.pinned} "
            f"({kinds[site.image]})",
            err=True,
        )


def _refreshed_lock(
    path: Path, previous: dict[str, LockEntry], entries: list[LockEntry]
) -> list[LockEntry]:
    """The new entries, every old entry the inputs no longer name kept, each change said."""
    fresh = {entry.reference: entry for entry in entries}
    for reference, entry in sorted(fresh.items()):
        old = previous.get(reference)
        if old is not None and old.digest != entry.digest:
            click.echo(
                f"imagepin: {path}: updated: {reference}: {old.digest} -> {entry.digest}"
                + (f" ({entry.platform})" if entry.platform else ""),
                err=True,
            )
    kept = [entry for reference, entry in previous.items() if reference not in fresh]
    return [*entries, *kept]


def _report_check(documents: list[Document], outcomes: dict[str, plan.Outcome]) -> int:
    """List every image and note on stdout as `file:line: …`; the exit code says which kind.

    1 means the answer is "no" (unpinned or moved). An image that could not be resolved is no
    answer at all, so its status decides the code (5 when the service or a registry is down),
    as it does without --check. Images left alone (variables, unknown kinds) are listed but
    decide nothing: pin cannot know what they will be.
    """
    for document in documents:
        findings = [
            (site.line, f"{site.location}: {_finding(outcomes[site.image])}")
            for site in document.sites
        ] + [(note.line, f"{note.location}: {note.message}") for note in document.notes]
        for _, message in sorted(findings, key=lambda finding: finding[0]):  # stable: file order
            click.echo(message)
    problems = sum(1 for o in outcomes.values() if o.status is not plan.Status.OK)
    if not problems:
        return exitcodes.OK
    click.echo(f"imagepin: {problems} of {len(outcomes)} images need pinning", err=True)
    failed = [o for o in outcomes.values() if o.status is plan.Status.FAILED]
    for outcome in failed:
        click.echo(f"imagepin: cannot check {outcome.image}: {outcome.error}", err=True)
    if failed:
        return exitcodes.for_status(failed[0].error_code)
    return exitcodes.NEGATIVE


def _finding(outcome: plan.Outcome) -> str:
    if outcome.status is plan.Status.PIN:
        return f"unpinned: {outcome.image} (now {outcome.digest})"
    if outcome.status is plan.Status.MOVED:
        return f"moved: {outcome.image} (its tag now points at {outcome.digest})"
    if outcome.status is plan.Status.FAILED:
        return f"unresolvable: {outcome.image}: {outcome.error}"
    if outcome.child_for:
        return f"pinned (child for {outcome.child_for}): {outcome.image}"
    return f"pinned: {outcome.image}"


def _sites(
    documents: list[Document], outcomes: dict[str, plan.Outcome], status: plan.Status
) -> list[ImageSite]:
    """Every site, in file order, whose image has this status."""
    return [
        site
        for document in documents
        for site in document.sites
        if outcomes[site.image].status is status
    ]


def _expand(paths: tuple[Path, ...]) -> list[Path]:
    """Files as given; directories walked for YAML files and Dockerfiles, in a stable order."""
    files = []
    for path in paths:
        if path.is_dir():
            files.extend(
                sorted(
                    p
                    for p in path.rglob("*")
                    if is_candidate(p.name)
                    and ".git" not in p.relative_to(path).parts
                    and p.is_file()
                )
            )
        elif str(path) == "-" or path.is_file():
            files.append(path)
        else:
            fail(f"{path}: no such file or directory", exitcodes.INVALID)
    return files


def _read(path: Path) -> Document:
    """Bytes decoded as they are (no newline translation), so the output can be identical."""
    source = None if str(path) == "-" else path
    try:
        raw = sys.stdin.buffer.read() if source is None else source.read_bytes()
    except OSError as error:
        fail(f"cannot read {source or '<stdin>'}: {error.strerror or error}", exitcodes.INVALID)
    try:
        text = raw.decode("utf-8")
        scan = scan_text(text, str(source or "<stdin>"), source.name if source else "")
    except (UnicodeDecodeError, ScanError) as error:
        fail(str(error), exitcodes.INVALID)
    return Document(source, text, scan.sites, scan.notes, scan.format)


def _write_atomically(path: Path, text: str) -> None:
    """Replace the file in one rename, keeping its permissions.

    A symlink stays a symlink: what is replaced is the file it points at (the temporary file
    goes beside that file, so the rename stays on one filesystem).
    """
    path = path.resolve(strict=True)
    mode = path.stat().st_mode
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(text.encode("utf-8"))
        os.chmod(temporary, mode & 0o7777)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise


@contextlib.contextmanager
def _progress() -> Iterator[Progress]:
    """A progress display on stderr when it is a terminal; silent otherwise."""
    console = Console(stderr=True)
    progress = Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TextColumn("{task.completed}/{task.total}"),
        console=console,
        transient=True,
        disable=not console.is_terminal,
    )
    with progress:
        yield progress
