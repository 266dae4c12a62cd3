"""The fast layer: tests that start no JVM. Asking for the Spark session here fails."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark() -> None:
    raise RuntimeError("tests/unit starts no JVM; move a test that needs Spark to tests/")
