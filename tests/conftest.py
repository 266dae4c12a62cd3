"""One SparkSession for the whole test run; settings come from conf/test.toml.

Set ``SPARK_SMOTE_TEST_REMOTE=local[2]`` to run the same tests over Spark Connect (the
.ci/run script does this in a second pytest process, since a classic and a Connect
session cannot share one process).
"""

from __future__ import annotations

import os
import sys
import tomllib
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
TEST_CONF = ROOT / "conf" / "test.toml"
REMOTE = os.environ.get("SPARK_SMOTE_TEST_REMOTE")


def spark_test_settings() -> tuple[str, str, dict[str, str]]:
    """(master, app name, Spark settings) of the test session, from conf/test.toml."""
    data = tomllib.loads(TEST_CONF.read_text(encoding="utf-8"))
    job = data.get("job", {})
    return job["master"], job["app_name"], {k: str(v) for k, v in data["spark"].items()}


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_connect_only = pytest.mark.skip(reason="runs only in the Spark Connect pass")
    skip_classic_only = pytest.mark.skip(reason="classic-session test; not in the Connect pass")
    for item in items:
        if "connect" in item.keywords and REMOTE is None:
            item.add_marker(skip_connect_only)
        if "classic_only" in item.keywords and REMOTE is not None:
            item.add_marker(skip_classic_only)


@pytest.fixture(scope="session")
def spark() -> Iterator[object]:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    master, app_name, settings = spark_test_settings()
    builder = SparkSession.builder.appName(app_name)
    builder = builder.remote(REMOTE) if REMOTE else builder.master(master)
    if REMOTE and not REMOTE.startswith("local"):
        # A remote Connect server is already running: only runtime SQL settings apply.
        settings = {k: v for k, v in settings.items() if k.startswith("spark.sql.")}
    for key, value in settings.items():
        builder = builder.config(key, value)
    with warnings.catch_warnings():
        # A local Connect server gets every setting when it starts; pyspark then sets the
        # builder's options again as runtime settings and warns for the static ones
        # (spark.ui.enabled, spark.driver.memory, ...), which are already in effect.
        warnings.filterwarnings("ignore", message=".*CANNOT_MODIFY_CONFIG.*")
        session = builder.getOrCreate()
    yield session
    session.stop()


@pytest.fixture(autouse=True)
def _doctest_spark(request: pytest.FixtureRequest) -> None:
    """Give doctests a ``spark`` name."""
    if isinstance(request.node, pytest.DoctestItem):
        request.getfixturevalue("doctest_namespace")["spark"] = request.getfixturevalue("spark")


@pytest.fixture(scope="session")
def reference(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Input and clean local-mode CLI output of the reliability tests' reference job."""
    from _reliability import reference_run

    return reference_run(str(tmp_path_factory.getbasetemp() / "reliability"))
