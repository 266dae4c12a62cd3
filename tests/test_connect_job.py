"""The job over Spark Connect gives the classic session's output (issue 5, point 3).

Runs the command line with ``--remote local[2]`` (a local Spark Connect server, started
by pyspark in the job's own process) and compares with the classic ``--master
local[2]`` run of the same job, bit for bit.
"""

from __future__ import annotations

from pathlib import Path

from tests._reliability import (
    assert_same_output,
    describe,
    reference_args,
    run_cli,
    staging_leftovers,
)


def test_connect_job_output_equals_classic(reference: tuple[Path, Path], tmp_path: Path) -> None:
    source, classic = reference
    target = tmp_path / "connect-output"
    result = run_cli(source, target, *reference_args("--remote", "local[2]"))
    assert result.returncode == 0, describe(result)
    assert_same_output(target, classic)
    assert staging_leftovers(tmp_path, "connect-output") == []
