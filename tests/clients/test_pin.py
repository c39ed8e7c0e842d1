"""`imagepin pin` on real manifests against the real service: only image lines may change."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner
from imagepin.cli import cli

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port
from tests.support.server_fixtures import RunningServer

IMAGEPIN = str(Path(sys.executable).with_name("imagepin"))

# Comments, flow style, odd indentation, quoting, anchors, CRLF, a ConfigMap with an `image:`
# key that is not a container image, kinds without images, and no newline at the very end.
MANIFESTS = """\
# Release 42 -- keep this comment
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web   # the shop front
  annotations: {owner: "team-a"}
spec:
  replicas:   3
  template:
    metadata: {labels: {app: web}}
    spec:
      initContainers:
          - name: setup
            image: "{busybox}"    # quoted, double
      containers:
      -   name: app
          image: '{alpine}'
          args: ["--port", '8080']   # flow sequence
      - {name: sidecar, image: {multi}, ports: [{containerPort: 9090}]}
      - name: already
        image: {alpine_pinned}
---
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  image: {alpine}
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: nightly}
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
            - name: job
              image: &job {app_a}
            - name: again
              image: *job
---
apiVersion: v1
kind: Service
metadata:
  name: web
spec: {ports: [{port: 80}]}"""


def manifests(images: ImageCatalog, *, crlf: bool = False) -> str:
    text = MANIFESTS
    values = {
        "busybox": images.schema2.reference,
        "alpine": images.single.reference,
        "multi": images.index.reference,
        "alpine_pinned": f"{images.single.reference}@{images.single.digest}",
        "app_a": images.app_a.reference,
    }
    for key, value in values.items():
        text = text.replace("{" + key + "}", value)
    return text.replace("\n", "\r\n") if crlf else text


def pin_cli(server: RunningServer | str, *args: str, stdin: str | None = None) -> tuple[int, str]:
    target = server if isinstance(server, str) else server.target
    result = CliRunner().invoke(cli, ["pin", "--server", target, *args], input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes.decode()  # .stdout folds CRLF


@pytest.mark.parametrize("crlf", [False, True], ids=["lf", "crlf"])
def test_output_differs_from_input_only_on_image_lines(
    service: RunningServer, pushed_images: ImageCatalog, crlf: bool
) -> None:
    original = manifests(pushed_images, crlf=crlf)
    code, output = pin_cli(service, "-", stdin=original)
    assert code == 0
    newline = "\r\n" if crlf else "\n"
    before, after = original.split(newline), output.split(newline)
    assert len(before) == len(after)
    changed = {i: (b, a) for i, (b, a) in enumerate(zip(before, after, strict=True)) if b != a}
    images = pushed_images
    expected = {
        images.schema2.reference: images.schema2.digest,
        images.single.reference: images.single.digest,
        images.index.reference: images.index.digest,
        images.app_a.reference: images.app_a.digest,
    }
    assert len(changed) == 4  # init, app, sidecar, the anchored job image (the alias follows)
    for old_line, new_line in changed.values():
        image = next(ref for ref in expected if ref in old_line)
        assert new_line == old_line.replace(image, f"{image}@{expected[image]}", 1)
        assert "image" in old_line
    # the ConfigMap's `image:` and the already pinned image are as they were
    assert f"  image: {images.single.reference}{newline}" in output
    assert output.count(f"{images.single.reference}@{images.single.digest}") == 2


def test_in_place_rewrites_files_in_a_directory(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    (tmp_path / "app").mkdir()
    deployment = tmp_path / "app" / "deploy.yaml"
    deployment.write_text(manifests(pushed_images))
    deployment.chmod(0o640)
    pinned_pod = tmp_path / "pod.yml"
    pod = (
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        f"  - name: c\n    image: {pushed_images.zstd.reference}@{pushed_images.zstd.digest}\n"
    )
    pinned_pod.write_text(pod)
    notes = tmp_path / "README.txt"
    notes.write_text(f"image: {pushed_images.single.reference}\n")
    code, output = pin_cli(service, "--in-place", str(tmp_path))
    assert code == 0
    assert output == ""
    assert f"{pushed_images.single.reference}@{pushed_images.single.digest}'" in (
        deployment.read_text()
    )
    assert deployment.stat().st_mode & 0o777 == 0o640
    assert pinned_pod.read_text() == pod
    assert notes.read_text() == f"image: {pushed_images.single.reference}\n"


def test_check_lists_unpinned_and_moved_images_and_changes_nothing(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    single, busybox = pushed_images.single, pushed_images.schema2
    moved = f"{single.reference}@{busybox.digest}"  # the tag never pointed there
    text = (
        "kind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        f"  - {{name: a, image: {busybox.reference}}}\n"
        f"  - {{name: b, image: '{moved}'}}\n"
        f"  - {{name: c, image: {pushed_images.app_b.reference}@{pushed_images.app_b.digest}}}\n"
    )
    path = tmp_path / "pod.yaml"
    path.write_text(text)
    code, output = pin_cli(service, "--check", str(path))
    assert code == 1
    app_b = pushed_images.app_b
    assert output.splitlines() == [
        f"{path}:5: unpinned: {busybox.reference} (now {busybox.digest})",
        f"{path}:6: moved: {moved} (its tag now points at {single.digest})",
        f"{path}:7: pinned: {app_b.reference}@{app_b.digest}",
    ]
    assert path.read_text() == text
    pinned, _ = pin_cli(service, "--check", "-", stdin=f"kind: Pod\nspec: {{containers: [{{image: "
                        f"{busybox.reference}@{busybox.digest}}}]}}\n")  # fmt: skip
    assert pinned == 0


def test_lock_then_from_lock_pins_the_same_without_the_service(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    original = manifests(pushed_images)
    lock = tmp_path / "images.lock.json"
    code, first = pin_cli(service, "--lock", str(lock), "-", stdin=original)
    assert code == 0
    entries = json.loads(lock.read_text())["images"]
    assert {e["reference"]: e["digest"] for e in entries} == {
        pushed_images.schema2.reference: pushed_images.schema2.digest,
        pushed_images.single.reference: pushed_images.single.digest,
        pushed_images.index.reference: pushed_images.index.digest,
        pushed_images.app_a.reference: pushed_images.app_a.digest,
    }
    assert all(e["resolved_at"].endswith("Z") for e in entries)
    nobody = f"127.0.0.1:{free_port()}"  # no service (nor registry) is asked
    code, again = pin_cli(nobody, "--from-lock", str(lock), "-", stdin=original)
    assert code == 0
    assert again == first
    code, _ = pin_cli(nobody, "--from-lock", str(lock), "-", stdin="kind: Pod\nspec: "
                      "{containers: [{image: other/image:1}]}\n")  # fmt: skip
    assert code == 3


def test_unknown_image_fails_and_prints_nothing(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    missing = f"{pushed_images.registry.host}/nope/missing:1"
    text = f"kind: Pod\nspec:\n  containers:\n  - image: {missing}\n"
    result = CliRunner().invoke(cli, ["pin", "--server", service.target, "-"], input=text)
    assert result.exit_code == 3
    assert result.stdout == ""
    assert missing in result.stderr


def test_the_installed_command_reads_imagepin_server_from_the_environment(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    text = f"kind: Pod\nspec:\n  containers:\n  - image: {pushed_images.deep.reference}\n"
    done = subprocess.run(
        [IMAGEPIN, "pin", "-"],
        input=text.encode(),
        capture_output=True,
        env={**os.environ, "IMAGEPIN_SERVER": service.target},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    deep = pushed_images.deep
    assert done.stdout.decode() == text.replace(deep.reference, f"{deep.reference}@{deep.digest}")


def test_check_exits_with_the_failures_code_when_a_registry_cannot_answer(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    """1 means "unpinned or moved"; a lookup nobody could answer is 5, as without --check."""
    down = f"127.0.0.1:{free_port()}/team/app:1"  # a registry that is not there
    busybox = pushed_images.schema2
    text = (
        "kind: Pod\nspec:\n  containers:\n"
        f"  - image: {busybox.reference}\n"  # unpinned as well: the failure still wins
        f"  - image: {down}\n"
    )
    result = CliRunner().invoke(
        cli, ["pin", "--server", service.target, "--check", "-"], input=text
    )
    assert result.exit_code == 5, result.output
    assert f"unpinned: {busybox.reference} (now {busybox.digest})" in result.stdout
    assert f"unresolvable: {down}" in result.stdout
    assert down in result.stderr


def test_check_exits_with_the_failures_code_for_an_image_missing_from_the_service(
    service: RunningServer, pushed_images: ImageCatalog
) -> None:
    missing = f"{pushed_images.registry.host}/nope/missing:1"
    text = f"kind: Pod\nspec:\n  containers:\n  - image: {missing}\n"
    code, output = pin_cli(service, "--check", "-", stdin=text)
    assert code == 3
    assert output.startswith(f"<stdin>:4: unresolvable: {missing}")


def test_an_unreadable_file_fails_as_invalid_input_without_a_traceback(
    pushed_images: ImageCatalog, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    unreadable = tmp_path / "secret.yaml"
    unreadable.write_text(
        f"kind: Pod\nspec: {{containers: [{{image: {pushed_images.deep.reference}}}]}}\n"
    )
    read_bytes = Path.read_bytes

    def refuse(self: Path) -> bytes:  # chmod 000 means nothing to root, so refuse here
        if self == unreadable:
            raise PermissionError(13, "Permission denied", str(self))
        return read_bytes(self)

    monkeypatch.setattr(Path, "read_bytes", refuse)
    nobody = f"127.0.0.1:{free_port()}"  # never asked: reading fails first
    result = CliRunner().invoke(cli, ["pin", "--server", nobody, str(unreadable)])
    assert result.exit_code == 4
    assert not isinstance(result.exception, PermissionError)
    assert result.stdout == ""
    assert str(unreadable) in result.stderr
    assert "Permission denied" in result.stderr
    assert "Traceback" not in result.output


def test_in_place_writes_through_a_symlink_and_keeps_the_link(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    deep = pushed_images.deep
    text = f"kind: Pod\nspec:\n  containers:\n  - image: {deep.reference}\n"
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "pod.yaml"
    target.write_text(text)
    target.chmod(0o640)
    (tmp_path / "links").mkdir()
    link = tmp_path / "links" / "pod.yaml"
    link.symlink_to(Path("..") / "real" / "pod.yaml")
    code, output = pin_cli(service, "-i", str(link))
    assert code == 0
    assert output == ""
    assert link.is_symlink()
    assert os.readlink(link) == str(Path("..") / "real" / "pod.yaml")
    assert target.read_text() == text.replace(deep.reference, f"{deep.reference}@{deep.digest}")
    assert target.stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in (tmp_path / "links").iterdir()) == ["pod.yaml"]  # no leftovers
    assert sorted(p.name for p in (tmp_path / "real").iterdir()) == ["pod.yaml"]


def test_a_file_that_cannot_be_rewritten_fails_cleanly_and_stays_as_it_was(
    service: RunningServer,
    pushed_images: ImageCatalog,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    deep = pushed_images.deep
    text = f"kind: Pod\nspec:\n  containers:\n  - image: {deep.reference}\n"
    manifest = tmp_path / "pod.yaml"
    manifest.write_text(text)

    def read_only_directory(*args: object, **kwargs: object) -> tuple[int, str]:
        raise PermissionError(13, "Permission denied", str(tmp_path))  # root ignores chmod

    monkeypatch.setattr(tempfile, "mkstemp", read_only_directory)
    code, _ = pin_cli(service, "-i", str(manifest))
    assert code == 7
    assert manifest.read_text() == text
