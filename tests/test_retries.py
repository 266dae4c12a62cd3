"""Task retries never change the output (issue 5, point 1).

The job runs in its own process with ``local[2,4]`` (up to four attempts per task) and
the private fault hook (:mod:`spark_smote._faults`) failing the first attempt of the
even-numbered tasks of every phase: the validation pass, keys, neighbour search,
synthesis and the write. The output must equal a clean run's, row for row and bit for
bit: no duplicated, missing or changed rows.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from spark_smote._faults import PHASES, enabled_faults
from tests._reliability import (
    assert_same_output,
    describe,
    reference_args,
    run_cli,
    staging_leftovers,
)


def test_fault_spec_parsing() -> None:
    assert enabled_faults("") == {}
    assert enabled_faults("all") == dict.fromkeys(PHASES, "fail")
    assert enabled_faults("keys, write:stall") == {"keys": "fail", "write": "stall"}
    with pytest.raises(ValueError, match="SPARK_SMOTE_FAULTS"):
        enabled_faults("keys:explode")
    with pytest.raises(ValueError, match="phase"):
        enabled_faults("shuffle")


def test_first_attempt_failures_in_every_phase_give_the_clean_output(
    reference: tuple[Path, Path], tmp_path: Path
) -> None:
    source, clean = reference
    target = tmp_path / "retried"
    log = tmp_path / "faults"
    result = run_cli(
        source,
        target,
        *reference_args("--master", "local[2,4]"),
        env={"SPARK_SMOTE_FAULTS": "all", "SPARK_SMOTE_FAULTS_LOG": str(log)},
    )
    assert result.returncode == 0, describe(result)
    fired = sorted(p.name for p in log.iterdir())
    for phase in PHASES:
        assert any(name.startswith(f"fail-{phase}-") for name in fired), (phase, fired)
    assert "InjectedFaultError" in result.stderr  # the failures really reached Spark
    assert_same_output(target, clean)
    assert staging_leftovers(tmp_path, "retried") == []
