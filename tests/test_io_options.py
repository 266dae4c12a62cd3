"""Inputs and outputs a data engineer has: any Spark source, options, tables.

``--input-format`` (any data source), repeatable ``--input-option key=value``,
``--input-table NAME`` (instead of ``--input``) and repeatable ``--output-option
key=value``. Option errors are found before Spark starts and name the option; the
jobs share one Spark process (the session's ``cli_batch``, ``_cli_batch.py``) so a
table written by one case is read by the next.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import pytest

from spark_smote.cli import run
from tests._reliability import TEST_CONFIG, batch_cases

pytestmark = pytest.mark.classic_only


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--input-option", "header"], r"--input-option 'header': expected key=value"),
        (["--output-option", "=x"], r"--output-option '=x': expected key=value"),
        (["--input-format", "c s v"], r"--input-format 'c s v': not a data source name"),
    ],
)
def test_malformed_options_exit_2_before_spark(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "in.csv"
    source.write_text("x,label\n1,0\n", encoding="utf-8")
    status = run(["--input", str(source), "--output", str(tmp_path / "out"), *argv])
    assert status == 2
    err = capsys.readouterr().err
    assert err.startswith("spark-smote: error: ")
    assert __import__("re").search(message, err), err
    assert not (tmp_path / "out").exists()


def test_input_format_with_a_table_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    status = run(["--input-table", "t", "--input-format", "csv", "--output", str(tmp_path / "o")])
    assert status == 2
    assert "--input-format 'csv': a table is read in its own format" in capsys.readouterr().err


def test_input_and_input_table_are_mutually_exclusive(tmp_path: Path) -> None:
    with pytest.raises(SystemExit) as exit_:
        run(["--input", "a", "--input-table", "t", "--output", str(tmp_path / "o")])
    assert exit_.value.code == 2


def write_csv(path: Path) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x1", "x2", "label"])
        for i in range(40):
            writer.writerow([float(i), float(i % 7), 0])
        for i in range(10):
            writer.writerow([100.0 + i, float(i % 3), 1])
    return path


# First in the shared batch: its first case creates the batch's Spark session, so the
# warehouse folder of job.toml (a static setting) holds for the table cases.
@batch_cases(order=0)
def io_cases(base: Path) -> list[dict[str, Any]]:
    source = write_csv(base / "input.csv")
    warehouse = base / "warehouse"
    config = base / "job.toml"
    config.write_text(
        Path(TEST_CONFIG).read_text(encoding="utf-8")
        + f'"spark.sql.warehouse.dir" = "{warehouse}"\n',
        encoding="utf-8",
    )
    common = ["--label-col", "label", "--seed", "3", "--k-neighbors", "3", "--config", str(config)]
    csv_input = ["--input", str(source), "--input-format", "csv"]
    csv_input += ["--input-option", "header=true", "--input-option", "inferSchema=true"]
    csv_output = ["--format", "csv", "--output-option", "header=true"]

    def output(name: str) -> list[str]:
        return ["--output", str(base / name)]

    argvs = {
        "csv_in_csv_out": [*csv_input, *output("csv_out"), *csv_output],
        "csv_to_table": [*csv_input, "--table", "balanced"],
        "table_in": ["--input-table", "balanced", *output("from_table")],
        "missing_table": ["--input-table", "no_such_table", *output("none")],
        "unknown_format": ["--input", str(source), "--input-format", "nosuchformat", *output("x")],
    }
    return [{"name": name, "argv": [*argv, *common]} for name, argv in argvs.items()]


@pytest.fixture(scope="module")
def results(cli_batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    base, found = cli_batch[__name__]
    found = dict(found)
    found["_base"] = {"path": str(base)}
    return found


def test_csv_input_with_options_and_csv_output_with_a_header(results: dict) -> None:
    result = results["csv_in_csv_out"]
    assert result["exit"] == 0, result
    folder = Path(results["_base"]["path"]) / "csv_out"
    parts = sorted(folder.glob("part-*.csv"))
    assert parts
    rows = []
    for part in parts:
        with part.open(encoding="utf-8") as handle:
            lines = list(csv.reader(handle))
        assert lines[0] == ["x1", "x2", "label"]  # every part starts with the header
        rows += lines[1:]
    assert sorted(int(r[2]) for r in rows).count(1) == 40
    assert len(rows) == 80


def test_a_table_written_by_one_job_is_read_by_the_next(results: dict) -> None:
    assert results["csv_to_table"]["exit"] == 0, results["csv_to_table"]
    result = results["table_in"]
    assert result["exit"] == 0, result
    assert "classes before: 0: 40, 1: 40" in result["stdout"], result["stdout"]


def test_a_missing_table_or_unknown_format_is_one_error_naming_the_option(
    results: dict,
) -> None:
    table, fmt = results["missing_table"], results["unknown_format"]
    assert table["exit"] == 2 and fmt["exit"] == 2, (table, fmt)
    assert table["stderr"].startswith("spark-smote: error: --input-table 'no_such_table'")
    assert fmt["stderr"].startswith("spark-smote: error: --input ")
    assert "(--input-format nosuchformat)" in fmt["stderr"]
    assert len(fmt["stderr"].strip().splitlines()) == 1
