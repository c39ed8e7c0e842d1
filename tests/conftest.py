"""Shared fixtures: real registries, pushed images and real databases live in tests/support."""

pytest_plugins = [
    "tests.support.image_fixtures",
    "tests.support.secure_registry_fixtures",
    "tests.support.database_fixtures",
    "tests.support.server_fixtures",
    "tests.support.counted_registry",
]
