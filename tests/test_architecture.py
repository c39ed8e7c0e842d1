"""The layering rules, checked on the source: imports point down, the contract is the only
thing the service takes from the client package, and pure modules stay pure."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SERVICE = ROOT / "service" / "imagepin_server"
CLIENT = ROOT / "clients" / "python" / "imagepin"
PURE = ["reference", "mediatypes", "digests", "errors"]
# The layer each package may not import from (imports point down).
# Only app.py (and __main__) knows every part: api sees core and the pure modules, never the
# store or the registry client.
FORBIDDEN = {
    "registry": ["core", "api", "store", "app"],
    "store": ["core", "api", "registry", "app"],
    "core": ["api", "app"],
    "api": ["store", "registry", "app"],
}


def _package_of(path: Path) -> list[str]:
    """`service/imagepin_server/store/layers.py` -> ["imagepin_server", "store"]."""
    for root in (SERVICE.parent, CLIENT.parent):
        if path.is_relative_to(root):
            return list(path.relative_to(root).parent.parts)
    raise AssertionError(f"{path} is outside the packages")


def imports(path: Path) -> Iterator[str]:
    """Every module a file imports, relative imports resolved to absolute names."""
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                if node.module:
                    yield node.module
                continue
            package = _package_of(path)
            base = package[: len(package) - (node.level - 1)]
            if node.module:
                yield ".".join([*base, node.module])
            else:  # `from . import x`: each name may be a module
                yield from (".".join([*base, alias.name]) for alias in node.names)


def modules(root: Path) -> list[Path]:
    return [p for p in root.rglob("*.py") if "v1" not in p.relative_to(root).parts]


@pytest.mark.parametrize("name", PURE)
def test_pure_modules_import_nothing_of_ours(name: str) -> None:
    ours = [
        m
        for m in imports(SERVICE / f"{name}.py")
        if m.split(".")[0] in {"imagepin", "imagepin_server"}
    ]
    assert ours == []


@pytest.mark.parametrize("layer", sorted(FORBIDDEN))
def test_imports_point_down(layer: str) -> None:
    for path in (SERVICE / layer).rglob("*.py"):
        for module in imports(path):
            parts = module.split(".")
            if parts[0] == "imagepin_server" and len(parts) > 1:
                assert parts[1] not in FORBIDDEN[layer], (
                    f"{path.relative_to(ROOT)} imports {module}"
                )


def test_the_service_takes_only_the_contract_from_the_client_package() -> None:
    for path in SERVICE.rglob("*.py"):
        for module in imports(path):
            if module.split(".")[0] == "imagepin":
                assert module.startswith("imagepin.v1"), (
                    f"{path.relative_to(ROOT)} imports {module}"
                )


def test_the_client_package_never_imports_the_service() -> None:
    for path in modules(CLIENT):
        for module in imports(path):
            assert module.split(".")[0] != "imagepin_server", (
                f"{path.relative_to(ROOT)} imports {module}"
            )


def test_status_codes_are_chosen_only_in_the_api_layer() -> None:
    for path in SERVICE.rglob("*.py"):
        if "api" in path.relative_to(SERVICE).parts:
            continue
        assert "StatusCode." not in path.read_text(), f"{path.relative_to(ROOT)} names a status"


def test_media_type_strings_live_only_in_mediatypes() -> None:
    for path in SERVICE.rglob("*.py"):
        if path.name == "mediatypes.py":
            continue
        text = path.read_text()
        assert '"application/vnd.' not in text, f"{path.relative_to(ROOT)} spells a media type"


def test_core_knows_a_registry_only_by_its_protocol() -> None:
    """core/ports.py lists what the use cases ask of a registry; the concrete client is app's."""
    for path in (SERVICE / "core").rglob("*.py"):
        tree = ast.parse(path.read_text(), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom):
                names = {alias.name for alias in node.names}
                assert "RegistryClient" not in names, f"{path.relative_to(ROOT)} imports it"
                assert "build_client" not in names, f"{path.relative_to(ROOT)} imports it"


@pytest.mark.parametrize("reading", ["datetime.now(", "time.monotonic(", "time.time(", "utcnow("])
def test_core_reads_no_clock_of_its_own(reading: str) -> None:
    """The use cases take their clocks from Dependencies, so tests can move time by hand."""
    for path in (SERVICE / "core").rglob("*.py"):
        assert reading not in path.read_text(), f"{path.relative_to(ROOT)} calls {reading}"
