"""One SparkSession for the whole test run; settings come from conf/test.toml
(:func:`tests._reliability.session_test_settings`).

Set ``SPARK_SMOTE_TEST_REMOTE=local[2]`` to run the same tests over Spark Connect (the
.ci/run script does this in a second pytest process, since a classic and a Connect
session cannot share one process). That pass's local Connect server listens on
127.0.0.1 only, on a port the system picks, and asks for a token (see
:func:`local_connect_server`), so two passes on one machine do not collide.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests._reliability import free_loopback_port, run_batch_groups, session_test_settings

ROOT = Path(__file__).resolve().parent.parent
REMOTE = os.environ.get("SPARK_SMOTE_TEST_REMOTE")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    skip_connect_only = pytest.mark.skip(reason="runs only in the Spark Connect pass")
    skip_classic_only = pytest.mark.skip(reason="classic-session test; not in the Connect pass")
    for item in items:
        if "connect" in item.keywords and REMOTE is None:
            item.add_marker(skip_connect_only)
        if "classic_only" in item.keywords and REMOTE is not None:
            item.add_marker(skip_classic_only)


# What pyspark's own ``remote("local[...]")`` adds to the server it starts.
CONNECT_SERVER_SETTINGS = {
    "spark.plugins": "org.apache.spark.sql.connect.SparkConnectPlugin",
    "spark.sql.artifact.isolation.enabled": "true",
    "spark.sql.artifact.isolation.alwaysApplyClassloader": "true",
}


@pytest.fixture(scope="session")
def local_connect_server() -> Iterator[object | None]:
    """The local Spark Connect server of the Connect pass (a classic session), or None.

    ``remote("local[...]")`` would start one too, but listening on every interface
    (``spark.connect.grpc.binding.address`` unset) at the fixed port 15002 (pyspark picks
    a free port only in its own test mode, ``SPARK_TESTING``, which also switches the JVM
    into Spark's test mode and changes query analysis). So the server is started as
    pyspark starts it (a local session with the Connect plugin), bound to 127.0.0.1 on a
    free port, with a fresh token the client must present.
    """
    if not (REMOTE and REMOTE.startswith("local")):
        yield None
        return
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    _, app_name, settings = session_test_settings()
    # The server and the client read the token from the environment.
    os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = uuid.uuid4().hex
    server_settings = {
        **settings,
        **CONNECT_SERVER_SETTINGS,
        "spark.connect.grpc.binding.address": "127.0.0.1",
        "spark.connect.grpc.binding.port": str(free_loopback_port()),
    }
    builder = SparkSession.builder.master(REMOTE).appName(app_name)
    for key, value in server_settings.items():
        builder = builder.config(key, value)
    server = builder.getOrCreate()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def spark(local_connect_server: object | None) -> Iterator[object]:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    from pyspark.sql import SparkSession

    master, app_name, settings = session_test_settings()
    if local_connect_server is not None:
        from pyspark.sql.connect.session import SparkSession as ConnectSession

        port = local_connect_server.conf.get("spark.connect.grpc.binding.port")  # type: ignore[attr-defined]
        # pyspark.sql.functions builds Connect columns only in Connect mode.
        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
        # "localhost", not 127.0.0.1: pyspark sends the token without TLS only there.
        session = ConnectSession.builder.remote(f"sc://localhost:{port}").getOrCreate()
        yield session
        session.stop()
        return
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
    from tests._reliability import reference_run

    return reference_run(str(tmp_path_factory.getbasetemp() / "reliability"))


@pytest.fixture(scope="session")
def wdbc_run(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[subprocess.CompletedProcess[str], Path]:
    """One ``python -m spark_smote`` run over the bundled WDBC data: result, output folder.

    Shared by the tests of the command line's output and of its console, which read the
    same run (a whole job costs a JVM start).
    """
    from tests._reliability import WDBC, WDBC_ARGS, run_cli

    output = tmp_path_factory.mktemp("wdbc") / "balanced"
    return run_cli(WDBC, output, *WDBC_ARGS), output


@pytest.fixture(scope="session")
def cli_batch(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> dict[str, tuple[Path, dict[str, dict[str, Any]]]]:
    """The command lines of every selected test module that registered some (see
    ``batch_cases`` in tests/_reliability.py), run in one ``_cli_batch.py`` process.

    Per module: its folder and its results by case name. Only modules with a selected
    test that uses this fixture take part.
    """
    modules = {
        getattr(getattr(item, "module", None), "__name__", "")
        for item in request.session.items
        if "cli_batch" in getattr(item, "fixturenames", ())
    }
    return run_batch_groups(tmp_path_factory.mktemp("cli-batch"), modules)
