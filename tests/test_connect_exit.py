"""A Spark Connect script that uses spark_smote and never calls stop() exits by itself.

pyspark frees a checkpointed DataFrame's server-side relation from a finaliser, a
blocking gRPC call; run during interpreter shutdown it blocks forever. The library must
release what it created before then (see spark_smote/_checkpoint.py). Each run is a fresh
process with a local Connect server, the shape of a Databricks job: build a small
DataFrame, resample it (plain SMOTE and SMOTE-NC, which checkpoints twice), collect and
write the result, end. The script starts its server as ``remote("local[2]")`` does (a
local session with the Connect plugin, in the same process) but on 127.0.0.1 and a free
port, since ``remote("local[2]")`` always takes port 15002, which another test pass on
the machine may hold. Runs in the Connect pass only (it is ten Connect sessions, two at
a time).
"""

from __future__ import annotations

import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests._reliability import TEST_JAVA_OPTIONS, free_loopback_port, job_env

pytestmark = pytest.mark.connect

RUNS = 10
# Runs at a time: one per core of a 2-core CI machine. Each run's exit is timed from its
# own end of work; a hang is forever, so a neighbour's load does not blur the bound.
AT_ONCE = 2
# The bound on the time from the end of the script's work to the process's exit.
EXIT_SECONDS = 60.0
# Upper bound of the work itself (a Connect server start and a small job).
WORK_SECONDS = 600.0
DONE = "SCRIPT-WORK-DONE"

SCRIPT = f"""
import os
import sys
import uuid
from pyspark.sql import SparkSession
from pyspark.sql.connect.session import SparkSession as ConnectSession
from spark_smote import smote

port = sys.argv[3]
os.environ["SPARK_CONNECT_AUTHENTICATE_TOKEN"] = uuid.uuid4().hex
(
    SparkSession.builder.master("local[2]")
    .config("spark.plugins", "org.apache.spark.sql.connect.SparkConnectPlugin")
    .config("spark.connect.grpc.binding.address", "127.0.0.1")
    .config("spark.connect.grpc.binding.port", port)
    .config("spark.ui.enabled", "false")
    .config("spark.ui.showConsoleProgress", "false")
    .config("spark.sql.shuffle.partitions", "2")
    .config("spark.driver.extraJavaOptions", sys.argv[4])
    .getOrCreate()
)
os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
spark = ConnectSession.builder.remote("sc://localhost:" + port).getOrCreate()
rows = [(float(i), float(i % 3), "ab"[i % 2], 0) for i in range(40)]
rows += [(float(i), 0.5, "ab"[i % 2], 1) for i in range(8)]
df = spark.createDataFrame(rows, ["a", "b", "kind", "label"])
categorical = ["kind"] if sys.argv[2] == "nc" else None
out = smote(df, label_col="label", k_neighbors=3, seed=7, categorical=categorical)
assert len(out.collect()) == 80
out.write.parquet(sys.argv[1])
print("{DONE}", flush=True)
"""


def run_script(script: Path, run: int) -> str | None:
    """Run the script once; None if it did its work and exited by itself in time, else why not."""
    variant = "nc" if run % 2 else "plain"
    output, port = str(script.parent / f"out-{run}"), str(free_loopback_port())
    process = subprocess.Popen(
        [sys.executable, str(script), output, variant, port, TEST_JAVA_OPTIONS],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env=job_env(),
        cwd=script.parent,
    )
    try:
        assert process.stdout is not None
        started = time.monotonic()
        done_at = None
        for line in process.stdout:
            if line.strip() == DONE:
                done_at = time.monotonic()
                break
            if time.monotonic() - started > WORK_SECONDS:
                return f"run {run} ({variant}) still working after {WORK_SECONDS} s"
        if done_at is None:
            return f"run {run} ({variant}) failed before its end"
        process.wait(timeout=EXIT_SECONDS)
    except subprocess.TimeoutExpired:
        return f"run {run} ({variant}) did not exit within {EXIT_SECONDS} s of its end"
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    if process.returncode != 0:
        return f"run {run} ({variant}) exit {process.returncode}"
    return None


def test_connect_script_without_stop_exits_by_itself(tmp_path: Path) -> None:
    script = tmp_path / "job.py"
    script.write_text(SCRIPT, encoding="utf-8")
    with ThreadPoolExecutor(max_workers=AT_ONCE) as pool:
        failures = [f for f in pool.map(lambda run: run_script(script, run), range(RUNS)) if f]
    assert not failures, failures
