"""What the command line prints: a short, quiet console; one line for a bad input.

Each job is a subprocess (its own JVM), as a user runs it; the whole run is the one
the command-line tests read too (``wdbc_run``). The console shows the
configuration and the seed first, one line per phase, the result; Spark's INFO log and
progress bars are off; a bad input ends in one ``spark-smote: error:`` line, exit 2.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests._reliability import run_cli

pytestmark = pytest.mark.classic_only

# Console lines of a whole run: config, seed, features, null columns, classes before,
# synthetic rows, one neighbour line per grown class, five or so phases, classes after,
# report, wrote, plus the JVM's few start-up lines (JDK notice, log4j profile).
MAX_LINES = 30


def test_a_run_prints_config_and_seed_first_then_phases_and_result(
    wdbc_run: tuple[subprocess.CompletedProcess[str], Path],
) -> None:
    result, output = wdbc_run
    detail = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-3000:]}"
    assert result.returncode == 0, detail
    lines = result.stdout.splitlines()
    assert lines[0].startswith("spark-smote: config "), detail
    assert lines[1] == "spark-smote: seed 42", detail
    assert any(line.startswith("spark-smote: phase ") for line in lines), detail
    assert lines[-1].startswith(f"spark-smote: wrote {output}"), detail
    features = next(line for line in lines if line.startswith("spark-smote: features: "))
    assert "mean_radius" in features and " id" not in features, detail
    everything = result.stdout + result.stderr
    assert len(everything.splitlines()) <= MAX_LINES, detail
    assert " INFO " not in everything, detail
    assert "[Stage " not in everything, detail  # no progress bars


def test_a_bad_input_prints_one_error_line_and_exits_2(tmp_path: Path) -> None:
    not_parquet = tmp_path / "data.parquet"
    not_parquet.write_text("a,b,label\n1,2,0\n", encoding="utf-8")
    output = tmp_path / "out"
    result = run_cli(not_parquet, output, "--seed", "1")
    detail = f"stdout:\n{result.stdout}\nstderr:\n{result.stderr}"
    assert result.returncode == 2, detail
    errors = [line for line in result.stderr.splitlines() if "error" in line.lower()]
    assert errors == [errors[0]] and errors[0].startswith("spark-smote: error: --input "), detail
    assert "Exception" not in result.stderr and "\tat " not in result.stderr, detail
    assert "Traceback" not in result.stderr, detail
    assert not output.exists()
