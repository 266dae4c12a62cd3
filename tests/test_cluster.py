"""A real standalone cluster gives the local-mode output (issue 5, point 2).

Starts a standalone master and two one-core workers from the installed pyspark (the pip
wheel has ``bin/spark-class`` but no ``sbin`` scripts) on 127.0.0.1 only, submits
``jobs/smote_job.py`` to it with ``spark-submit`` (two executors, one per worker) and
compares the output with the local-mode run of the same job. The fixture stops exactly
the processes it started, also when the test fails.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pyspark
import pytest

from tests._reliability import (
    ROOT,
    TEST_CONFIG,
    TEST_JAVA_OPTIONS,
    assert_same_output,
    describe,
    free_loopback_port,
    job_env,
    reference_args,
    run_command,
)

pytestmark = pytest.mark.cluster

SPARK_HOME = Path(pyspark.__file__).resolve().parent
START_TIMEOUT = 120.0


def _wait_for(condition: object, what: str, processes: list[subprocess.Popen[bytes]]) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if callable(condition) and condition():
            return
        dead = [p.args for p in processes if p.poll() is not None]
        if dead:
            raise RuntimeError(f"cluster process exited while waiting for {what}: {dead}")
        time.sleep(0.5)
    raise TimeoutError(f"standalone cluster: {what} not reached in {START_TIMEOUT} s")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=30)


@pytest.fixture
def standalone_cluster(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(master URL, master log) of a master and two workers on 127.0.0.1."""
    env = job_env({"SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1"})
    # The daemons do not read SPARK_SUBMIT_OPTS: they get tests/run.sh's class archive
    # (if any) here, with the test JVM options.
    daemon_options = (TEST_JAVA_OPTIONS, os.environ.get("SPARK_SUBMIT_OPTS", ""))
    env["SPARK_DAEMON_JAVA_OPTS"] = " ".join(o for o in daemon_options if o)
    spark_class = str(SPARK_HOME / "bin" / "spark-class")
    logs = tmp_path / "logs"
    logs.mkdir()
    started: list[subprocess.Popen[bytes]] = []

    def start(name: str, *args: str) -> Path:
        log = logs / f"{name}.log"
        with log.open("wb") as sink:
            started.append(
                subprocess.Popen(
                    [spark_class, *args],
                    env=env,
                    cwd=tmp_path,
                    stdout=sink,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                )
            )
        return log

    try:
        port = free_loopback_port()
        master_url = f"spark://127.0.0.1:{port}"
        master_log = start(
            "master",
            "org.apache.spark.deploy.master.Master",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--webui-port",
            str(free_loopback_port()),
        )
        _wait_for(lambda: "Starting Spark master" in master_log.read_text(), "master", started)
        for i in range(2):
            start(
                f"worker{i}",
                "org.apache.spark.deploy.worker.Worker",
                master_url,
                "--host",
                "127.0.0.1",
                "--cores",
                "1",
                "--memory",
                "2g",
                "--webui-port",
                str(free_loopback_port()),
                "--work-dir",
                str(tmp_path / f"work{i}"),
            )
        _wait_for(
            lambda: master_log.read_text().count("Registering worker") >= 2,
            "two registered workers",
            started,
        )
        yield master_url, master_log
    finally:
        for process in reversed(started):
            _stop(process)


def test_standalone_cluster_output_equals_local_mode(
    standalone_cluster: tuple[str, Path], reference: tuple[Path, Path], tmp_path: Path
) -> None:
    master_url, master_log = standalone_cluster
    source, local_output = reference
    target = tmp_path / "cluster-output"
    command = [
        str(SPARK_HOME / "bin" / "spark-submit"),
        "--master",
        master_url,
        "--driver-java-options",
        TEST_JAVA_OPTIONS,
        "--conf",
        "spark.driver.host=127.0.0.1",
        "--conf",
        "spark.driver.bindAddress=127.0.0.1",
        "--conf",
        "spark.executor.memory=1g",
        "--conf",
        f"spark.pyspark.python={sys.executable}",
        "--executor-cores",
        "1",
        "--total-executor-cores",
        "2",
        str(ROOT / "jobs" / "smote_job.py"),
        "--input",
        str(source),
        "--output",
        str(target),
        "--config",
        TEST_CONFIG,
        *reference_args(),
    ]
    env = {"SPARK_HOME": str(SPARK_HOME), "SPARK_LOCAL_IP": "127.0.0.1"}
    result = run_command(command, env=env)
    assert result.returncode == 0, describe(result)
    launched = master_log.read_text().count("Launching executor")
    assert launched >= 2, master_log.read_text()[-3000:]
    assert_same_output(target, local_output)
