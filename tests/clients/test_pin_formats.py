"""`imagepin pin` on every place a release names an image, with the installed command against the
real service and registry: Kubernetes (with image volumes and a kind it does not know),
docker-compose, kustomize `images:`, Dockerfiles and GitHub Actions workflows.

Each fixture is a realistic file with comments and odd spacing. After `pin -i` the file must be
the original byte for byte once the new image strings are put back, and `--check` must name
every image by file and line.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.support.image_fixtures import ImageCatalog
from tests.support.registries import free_port
from tests.support.server_fixtures import RunningServer

IMAGEPIN = str(Path(sys.executable).with_name("imagepin"))

KUBERNETES = """\
# The shop: a Deployment with an image volume, and a rollout controller's own kind.
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop        # front
spec:
  template:
    spec:
      containers:
        -   name: app
            image:   "{alpine}"     # the app itself
      volumes:
      - name: models
        image:
          reference: '{app_a}'   # an OCI artifact mounted read-only
          pullPolicy: IfNotPresent
      - {name: scratch, emptyDir: {}}
---
apiVersion: v1
kind: Pod
metadata: {name: debug}
spec:
  containers: [{name: shell, image: {busybox}}]
  volumes: [{name: tools, image: {reference: {zstd}}}]
---
apiVersion: argoproj.io/v1alpha1
kind: Rollout          # not a kind pin knows
metadata: {name: canary}
spec:
  template:
    spec:
      containers:
      - name: app
        image: {deep}
"""

COMPOSE = """\
# docker compose up -d
x-logging: &logging
  driver: json-file

services:
  web:
    image:    {alpine}    # the front
    logging: *logging
    ports: ["8080:80"]
  worker: {image: '{app_b}', command: [work, "--fast"]}
  builder:
    build: ./builder          # built here: no image to pin
  cache:
    image: "${REGISTRY:-docker.io}/library/redis:7"
volumes:
  data: {}
"""

KUSTOMIZATION = """\
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
resources:
- deployment.yaml   # the app

images:
  - name: alpine
    newName: {alpine_name}   # our mirror
    newTag: "{alpine_tag}"
  # the job runner
  - { name: app, newName: {app_a_name},  newTag: '{app_a_tag}' }
  - name: keep-as-is
    newName: {deep_name}     # its tag comes from deployment.yaml
  - name: busybox
    newName: {busybox_name}
    newTag: {busybox_tag}
    digest: {busybox_digest}
  - name: zstd
    newName: {zstd_name}
    newTag: {zstd_tag}"""

DOCKERFILE = """\
# syntax=docker/dockerfile:1
ARG BASE={busybox}

FROM  --platform=$BUILDPLATFORM   {alpine}   AS build
RUN <<EOF
echo "FROM nothing:1 is not an instruction here"
EOF
COPY --from={app_a} /opt/app /opt/app

FROM build AS test
RUN make test

FROM ${BASE} AS runtime-base

from \\
    --platform=linux/amd64 \\
    {zstd} as final
COPY --from=build /out /usr/local/bin/
COPY --from=0 /etc/os-release /etc/

FROM scratch
COPY --from=final / /
"""

WORKFLOW = """\
name: CI
on:
  push: {branches: [main]}
  pull_request:

jobs:
  test:
    runs-on: ubuntu-latest
    container:   {alpine}   # tests run in here
    services:
      cache:
        image: '{app_b}'
        ports: ["6379:6379"]
    steps:
      - uses: actions/checkout@v4
      - uses: "docker://{busybox}"
        with: {args: echo hi}
  lint:
    runs-on: ubuntu-latest
    container:
      image: {deep}
      options: --user 1001
  matrix:
    runs-on: ubuntu-latest
    strategy: {matrix: {img: [a, b]}}
    container: ${{ matrix.img }}
    steps:
      - run: echo done
"""


@dataclass(frozen=True)
class Fixture:
    name: str  # the file's path in the tree
    text: str
    pinned: dict[str, str]  # reference as written -> digest it must be pinned to
    notes: tuple[str, ...]  # what --check must note (the start of each message)
    markers: dict[str, str] | None = None  # reference -> text on its line, when not itself

    def line(self, reference: str) -> int:
        """The 1-based line --check must name for `reference`."""
        fragment = (self.markers or {}).get(reference, reference)
        return self.text.count("\n", 0, self.text.index(fragment)) + 1


def values(images: ImageCatalog) -> dict[str, str]:
    found = {
        "alpine": images.single,
        "busybox": images.schema2,
        "app_a": images.app_a,
        "app_b": images.app_b,
        "zstd": images.zstd,
        "deep": images.deep,
    }
    out = {role: image.reference for role, image in found.items()}
    for role, image in found.items():
        name, _, tag = image.reference.rpartition(":")
        out[f"{role}_name"], out[f"{role}_tag"], out[f"{role}_digest"] = name, tag, image.digest
    return out


def fill(template: str, found: dict[str, str]) -> str:
    """The template with `{role}` placeholders replaced (other braces are YAML's own)."""
    for key, value in found.items():
        template = template.replace("{" + key + "}", value)
    return template


def fixtures(images: ImageCatalog) -> dict[str, Fixture]:
    v = values(images)
    single, schema2, app_a, app_b, zstd = (
        images.single, images.schema2, images.app_a, images.app_b, images.zstd,
    )  # fmt: skip
    return {
        "kubernetes": Fixture(
            "k8s/shop.yaml",
            fill(KUBERNETES, v),
            {r.reference: r.digest for r in (single, app_a, schema2, zstd)},
            (f"left alone: image: {images.deep.reference} in Rollout/canary",),
        ),
        "compose": Fixture(
            "compose.yaml",
            fill(COMPOSE, v),
            {r.reference: r.digest for r in (single, app_b)},
            ("left alone: ${REGISTRY:-docker.io}/library/redis:7 is substituted",),
        ),
        "kustomize": Fixture(
            "overlays/prod/kustomization.yaml",
            fill(KUSTOMIZATION, v),
            {r.reference: r.digest for r in (single, app_a, zstd)},
            ("left alone: images[2] (keep-as-is) has no newTag",),
            {  # an entry is named by the line it starts on
                single.reference: "- name: alpine",
                app_a.reference: "name: app,",
                zstd.reference: "- name: zstd",
            },
        ),
        "dockerfile": Fixture(
            "Dockerfile",
            fill(DOCKERFILE, v),
            {r.reference: r.digest for r in (single, app_a, zstd)},
            ("left alone: FROM ${BASE} AS runtime-base is ARG-substituted",),
        ),
        "workflow": Fixture(
            ".github/workflows/ci.yml",
            fill(WORKFLOW, v),
            {r.reference: r.digest for r in (single, app_b, schema2, images.deep)},
            ("left alone: ${{ matrix.img }} is substituted",),
        ),
    }


def run(server: RunningServer | str, *args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The installed `imagepin` command, as a user or CI runs it."""
    target = server if isinstance(server, str) else server.target
    return subprocess.run(
        [IMAGEPIN, "pin", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        env={**os.environ, "IMAGEPIN_SERVER": target},
        check=False,
    )


def write(tree: Path, fixture: Fixture) -> Path:
    path = tree / fixture.name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(fixture.text.encode())
    return path


def normalised(after: str, fixture: Fixture) -> str:
    """`after` with every pin taken out again: the reference as written, and for kustomize
    the `digest:` entries pin added."""
    out = after
    for reference, digest in fixture.pinned.items():
        out = out.replace(f"{reference}@{digest}", reference)
        out = re.sub(rf"(\r?\n *|, )digest: ['\"]?{re.escape(digest)}['\"]?", "", out)
    return out


FORMATS = ["kubernetes", "compose", "kustomize", "dockerfile", "workflow"]


@pytest.mark.parametrize("kind", FORMATS)
def test_in_place_pins_every_image_and_changes_no_other_byte(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path, kind: str
) -> None:
    fixture = fixtures(pushed_images)[kind]
    path = write(tmp_path, fixture)
    done = run(service, "-i", fixture.name, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    after = path.read_bytes().decode()
    assert after != fixture.text
    for reference, digest in fixture.pinned.items():
        assert digest in after, reference
    original = tmp_path / "original"
    original.write_bytes(fixture.text.encode())
    put_back = tmp_path / "put-back"
    put_back.write_bytes(normalised(after, fixture).encode())
    assert subprocess.run(["cmp", str(original), str(put_back)], check=False).returncode == 0
    # and pinned now: --check passes, listing each image as pinned where it stands
    check = run(service, "--check", fixture.name, cwd=tmp_path)
    assert check.returncode == 0, check.stdout + check.stderr
    pinned_lines = [line for line in check.stdout.splitlines() if ": pinned: " in line]
    assert len(pinned_lines) >= len(fixture.pinned)
    assert all(re.match(rf"{re.escape(fixture.name)}:\d+: pinned: ", x) for x in pinned_lines)


@pytest.mark.parametrize("kind", FORMATS)
def test_check_names_every_image_by_file_and_line(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path, kind: str
) -> None:
    fixture = fixtures(pushed_images)[kind]
    path = write(tmp_path, fixture)
    done = run(service, "--check", fixture.name, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    for reference, digest in fixture.pinned.items():
        line = fixture.line(reference)
        assert f"{fixture.name}:{line}: unpinned: {reference} (now {digest})" in lines, lines
    for note in fixture.notes:
        pattern = rf"{re.escape(fixture.name)}:\d+: {re.escape(note)}"
        assert any(re.match(pattern, line) for line in lines), (note, lines)
    assert path.read_bytes().decode() == fixture.text  # --check changes nothing


def test_a_directory_is_read_by_file_name_and_content(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    """Dockerfiles by name (`*.Dockerfile`, `Containerfile.*`), compose by name or by its
    `services:`; a YAML file with no image, and any other file, are said so or skipped."""
    single, app_b = pushed_images.single, pushed_images.app_b
    files = {
        "images/web.Dockerfile": f'FROM {single.reference}\nCMD ["web"]\n',
        "images/Containerfile.dev": f"# dev image\nFROM {app_b.reference} AS dev\n",
        "deploy/docker-compose.prod.yml": f"services:\n  web:\n    image: {single.reference}\n",
        "deploy/stack.yaml": f"services:\n  db: {{image: {app_b.reference}}}\n",  # by content
        "deploy/values.yaml": "replicas: 3\nimage: {repository: nginx}\n",  # not a format we read
        "builds/compose.yaml": "services:\n  web: {build: .}\n",  # compose, by name, no image
        "notes.txt": f"FROM {single.reference}\n",  # not read in a directory walk
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    done = run(service, "--check", ".", cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    assert sorted(done.stdout.splitlines()) == sorted(
        [
            f"deploy/docker-compose.prod.yml:3: unpinned: {single.reference} (now {single.digest})",
            f"deploy/stack.yaml:2: unpinned: {app_b.reference} (now {app_b.digest})",
            f"images/Containerfile.dev:2: unpinned: {app_b.reference} (now {app_b.digest})",
            f"images/web.Dockerfile:1: unpinned: {single.reference} (now {single.digest})",
        ]
    )
    assert "imagepin: deploy/values.yaml: no image (not a format imagepin pin reads)" in (
        done.stderr
    )
    assert "imagepin: builds/compose.yaml: no image\n" in done.stderr
    assert "notes.txt" not in done.stdout + done.stderr
    # a file given by name is read by its content: a Dockerfile under any name
    named = run(service, "--check", "notes.txt", cwd=tmp_path)
    assert named.stdout == f"notes.txt:1: unpinned: {single.reference} (now {single.digest})\n"


def test_a_pin_to_a_platform_child_of_the_tags_index_is_pinned_not_moved(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    index = pushed_images.index
    arm64 = index.child("linux/arm64/v8")
    (tmp_path / "Dockerfile").write_text(
        f"FROM --platform=linux/arm64 {index.reference}@{arm64.digest}\nRUN true\n"
    )
    (tmp_path / "pod.yaml").write_text(
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  containers:\n"
        f"  - {{name: a, image: '{index.reference}@{index.digest}'}}\n"
    )
    done = run(service, "--check", "Dockerfile", "pod.yaml", cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"Dockerfile:1: pinned (child for linux/arm64/v8): {index.reference}@{arm64.digest}",
        f"pod.yaml:6: pinned: {index.reference}@{index.digest}",
    ]
    # a digest of another image under that tag has moved, and says where
    other = pushed_images.single.digest
    (tmp_path / "compose.yaml").write_text(
        f"services:\n  # pinned by hand\n  web:\n    image: {index.reference}@{other}\n"
    )
    moved = run(service, "--check", "compose.yaml", cwd=tmp_path)
    assert moved.returncode == 1
    assert moved.stdout.splitlines() == [
        f"compose.yaml:4: moved: {index.reference}@{other} (its tag now points at {index.digest})"
    ]
    warned = run(service, "-i", "compose.yaml", cwd=tmp_path)
    assert warned.returncode == 0
    assert f"imagepin: compose.yaml:4: warning: {index.reference}@{other}" in warned.stderr


def test_unresolvable_images_name_file_and_line_in_every_mode(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    missing = f"{pushed_images.registry.host}/nope/missing:1"
    (tmp_path / "Containerfile").write_text(f"# base\n\nFROM {missing}\n")
    check = run(service, "--check", "Containerfile", cwd=tmp_path)
    assert check.returncode == 3
    assert check.stdout.startswith(f"Containerfile:3: unresolvable: {missing}: ")
    pin = run(service, "-i", "Containerfile", cwd=tmp_path)
    assert pin.returncode == 3
    assert f"imagepin: Containerfile:3: cannot pin {missing} (FROM {missing}): " in pin.stderr
    assert (tmp_path / "Containerfile").read_text() == f"# base\n\nFROM {missing}\n"


def test_lock_then_from_lock_pins_every_format_the_same_without_the_service(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    every = fixtures(pushed_images).values()
    first, second = tmp_path / "first", tmp_path / "second"
    for fixture in every:
        write(first, fixture)
        write(second, fixture)
    locked = run(service, "-i", "--lock", str(tmp_path / "images.lock.json"), ".", cwd=first)
    assert locked.returncode == 0, locked.stderr
    nobody = f"127.0.0.1:{free_port()}"
    again = run(nobody, "-i", "--from-lock", str(tmp_path / "images.lock.json"), ".", cwd=second)
    assert again.returncode == 0, again.stderr
    for fixture in every:
        assert (second / fixture.name).read_bytes() == (first / fixture.name).read_bytes()
        assert (first / fixture.name).read_bytes() != fixture.text.encode()


def test_kustomize_digest_is_added_in_the_entrys_style_with_the_files_line_endings(
    service: RunningServer, pushed_images: ImageCatalog, tmp_path: Path
) -> None:
    single, app_a, zstd = pushed_images.single, pushed_images.app_a, pushed_images.zstd
    name, _, tag = single.reference.rpartition(":")
    a_name, _, a_tag = app_a.reference.rpartition(":")
    z_name, _, z_tag = zstd.reference.rpartition(":")
    empty = f"    - name: z\r\n      newName: {z_name}\r\n      newTag: {z_tag}\r\n      digest:"
    text = (
        "images:\r\n"
        f"    -   name: alpine   \r\n        newName: {name}\r\n        newTag: '{tag}'  # x\r\n"
        f"    - {{name: app, newName: {a_name}, newTag: {a_tag}}}\r\n"
        f"{empty}   # CI fills this in\r\n"
    )
    (tmp_path / "Kustomization").write_bytes(text.encode())
    done = run(service, "-i", "Kustomization", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "Kustomization").read_bytes().decode() == (
        "images:\r\n"
        f"    -   name: alpine   \r\n        newName: {name}\r\n        newTag: '{tag}'  # x\r\n"
        f"        digest: '{single.digest}'\r\n"
        f"    - {{name: app, newName: {a_name}, newTag: {a_tag}, digest: {app_a.digest}}}\r\n"
        f"{empty} {zstd.digest}   # CI fills this in\r\n"
    )
