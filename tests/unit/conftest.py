"""The fast layer: tests here start no JVM (numpy, Arrow and plan logic only).

A test in this folder that asks for the session fails at once instead of starting one.
"""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def spark() -> None:
    pytest.fail("tests/unit start no Spark session; put Spark tests in tests/")
