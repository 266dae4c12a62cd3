"""Output safety (issue 5, point 4): staged write renamed into place, input untouched.

The command line writes into a hidden folder beside the destination
(``.NAME.spark-smote-TOKEN.tmp``) and renames it into place only when Spark has
finished. These tests kill the job (SIGKILL of its whole process group) while write
tasks hold half-written files, and make write tasks fail without retries, and check
that the destination then holds nothing, or, with ``--mode overwrite``, exactly the
previous output; that the input's files are byte-for-byte unchanged; and that an output
equal to, inside or containing the input is refused before Spark starts.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests._reliability import (
    JOB_TIMEOUT,
    ROOT,
    assert_same_output,
    cli_command,
    describe,
    job_env,
    reference_args,
    run_cli,
    staging_leftovers,
    tree_digest,
)


@pytest.fixture
def source(reference: tuple[Path, Path], tmp_path: Path) -> Path:
    """A private copy of the reference input (so checksums see only this test's job)."""
    return Path(shutil.copytree(reference[0], tmp_path / "input"))


def _kill_during_write(source: Path, target: Path, *args: str) -> None:
    """Start the job with write tasks that stall, SIGKILL it once they are stalled."""
    log = target.parent / "faults"
    process = subprocess.Popen(
        cli_command(source, target, *reference_args("--master", "local[2]", *args)),
        cwd=ROOT,
        env=job_env({"SPARK_SMOTE_FAULTS": "write:stall", "SPARK_SMOTE_FAULTS_LOG": str(log)}),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # its own process group: the driver, its JVM, its workers
    )
    try:
        deadline = time.monotonic() + JOB_TIMEOUT
        while not (log.is_dir() and any(log.iterdir())):
            assert process.poll() is None, f"job ended (exit {process.returncode}) before writing"
            assert time.monotonic() < deadline, "write tasks never stalled"
            time.sleep(0.5)
        assert staging_leftovers(target.parent, target.name), "no staging folder during write"
    finally:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)


def test_killed_job_leaves_no_output(source: Path, tmp_path: Path) -> None:
    before = tree_digest(source)
    target = tmp_path / "out"
    _kill_during_write(source, target)
    assert not target.exists()
    assert tree_digest(source) == before
    # What a killed run leaves: one hidden staging folder beside the destination, which
    # Spark and pyarrow readers skip and which may be deleted (README, Guarantees).
    leftovers = staging_leftovers(tmp_path, "out")
    assert len(leftovers) == 1
    assert leftovers[0].name.startswith(".out.spark-smote-")
    assert leftovers[0].name.endswith(".tmp")


def test_killed_overwrite_keeps_the_previous_output(
    reference: tuple[Path, Path], source: Path, tmp_path: Path
) -> None:
    target = Path(shutil.copytree(reference[1], tmp_path / "out"))
    previous = tree_digest(target)
    before = tree_digest(source)
    _kill_during_write(source, target, "--mode", "overwrite", "--seed", "1")
    assert tree_digest(target) == previous
    assert tree_digest(source) == before


@pytest.mark.parametrize("mode", ["error", "overwrite"])
def test_failed_write_leaves_no_output_and_keeps_the_previous_one(
    mode: str, reference: tuple[Path, Path], source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    previous = None
    if mode == "overwrite":
        target = Path(shutil.copytree(reference[1], target))
        previous = tree_digest(target)
    before = tree_digest(source)
    # local[2] allows one attempt per task: the injected write failure fails the job.
    result = run_cli(
        source,
        target,
        *reference_args("--master", "local[2]", "--mode", mode, "--seed", "2"),
        env={"SPARK_SMOTE_FAULTS": "write"},
    )
    assert result.returncode == 1, describe(result)
    assert "InjectedFaultError" in result.stderr
    if previous is None:
        assert not target.exists()
    else:
        assert tree_digest(target) == previous
    assert staging_leftovers(tmp_path, "out") == []  # a failed (not killed) job cleans up
    assert tree_digest(source) == before


def test_overwrite_replaces_a_complete_output(
    reference: tuple[Path, Path], source: Path, tmp_path: Path
) -> None:
    target = tmp_path / "out"
    target.mkdir()
    (target / "stale.parquet").write_bytes(b"not the new output")
    result = run_cli(source, target, *reference_args("--master", "local[2]", "--mode", "overwrite"))
    assert result.returncode == 0, describe(result)
    assert not (target / "stale.parquet").exists()
    assert_same_output(target, reference[1])
    assert staging_leftovers(tmp_path, "out") == []


@pytest.mark.parametrize(
    ("where", "message"),
    [
        (lambda src: src, "is the input path or inside it"),
        (lambda src: src / "nested" / "out", "is the input path or inside it"),
        (lambda src: src.parent, "contains the input"),
    ],
    ids=["equal", "inside", "containing"],
)
def test_output_overlapping_the_input_is_refused(
    where: object, message: str, source: Path, tmp_path: Path
) -> None:
    before = tree_digest(tmp_path)
    target = where(source)  # type: ignore[operator]
    result = run_cli(source, target, *reference_args("--mode", "overwrite"))
    assert result.returncode == 2, describe(result)
    assert "--output" in result.stderr and message in result.stderr
    assert tree_digest(tmp_path) == before  # nothing written, nothing deleted
