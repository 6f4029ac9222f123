"""Backend integration fixtures (shared ones live in tests/support/fixtures.py)."""

from tests.support.fixtures import local_backend, tiny_checkpoint  # noqa: F401
