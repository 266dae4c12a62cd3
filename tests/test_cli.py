"""The command line: ``spark-smote``, ``python -m spark_smote`` and spark-submit.

Argument parsing and the merge over the TOML file are tested in-process; each run of
a job is a subprocess (its own JVM) started with this interpreter, so the tests work
in any virtualenv. Outputs are read back with the test session.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyspark
import pytest

from spark_smote._config import load_config
from spark_smote._errors import InvalidParameterError
from spark_smote.cli import _sampler_arguments, build_parser, parse_sampling_strategy
from tests._reliability import (
    ROOT,
    TEST_CONFIG,
    TEST_JAVA_OPTIONS,
    WDBC,
    WDBC_ARGS,
    cli_args,
    run_command,
)
from tests.helpers import label_counts, sorted_rows

pytestmark = pytest.mark.classic_only


def run_job(command: list[str], *args: str) -> subprocess.CompletedProcess[str]:
    return run_command([*command, *args])


def spark_submit() -> str:
    beside = Path(sys.executable).parent / "spark-submit"
    if beside.exists():
        return str(beside)
    return str(Path(pyspark.__file__).parent / "bin" / "spark-submit")


def assert_ok(result: subprocess.CompletedProcess[str]) -> None:
    assert result.returncode == 0, f"stdout:\n{result.stdout}\nstderr:\n{result.stderr[-3000:]}"


# --- parsing, in-process -------------------------------------------------------------


def smote_arguments(argv: list[str], config_text: str | None, tmp_path: Path) -> dict:
    path = None
    if config_text is not None:
        path = tmp_path / "job.toml"
        path.write_text(config_text, encoding="utf-8")
    args = build_parser().parse_args(["--input", "in", "--output", "out", *argv])
    return _sampler_arguments(args, load_config(path))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("a,b", ["a", "b"]), (" a , b ,c ", ["a", "b", "c"]), ("v", "v"), ("v,", "v")],
)
def test_features_argument(tmp_path, text, expected):
    assert smote_arguments(["--features", text], None, tmp_path)["features"] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auto", "auto"),
        ("not minority", "not minority"),
        ("0.5", 0.5),
        ('{"1": 900, "2": 40}', {"1": 900, "2": 40}),
    ],
)
def test_sampling_strategy_argument(text, expected):
    assert parse_sampling_strategy(text) == expected


@pytest.mark.parametrize("text", ["most", '{"1": 900', "[1, 2"])
def test_bad_sampling_strategy_argument(text):
    with pytest.raises(InvalidParameterError, match=r"--sampling-strategy"):
        parse_sampling_strategy(text)


@pytest.mark.parametrize("text", ["majority", "[1, 2]"])
def test_cleaning_strategies_are_refused_by_smote(tmp_path, text):
    """'majority' and lists are cleaners' strategies: SMOTE's check refuses them."""
    from spark_smote import SMOTE

    with pytest.raises(InvalidParameterError, match=r"sampling_strategy="):
        SMOTE(**smote_arguments(["--sampling-strategy", text], None, tmp_path))


def test_arguments_override_the_config_file(tmp_path):
    config = """
[smote]
label_col = "target"
k_neighbors = 7
seed = 3
sampling_strategy = "minority"
provenance = true
"""
    from_file = smote_arguments([], config, tmp_path)
    assert from_file == {
        "label_col": "target",
        "k_neighbors": 7,
        "seed": 3,
        "sampling_strategy": "minority",
        "provenance": True,
    }
    merged = smote_arguments(
        ["--k-neighbors", "2", "--seed", "9", "--sampling-strategy", "all"], config, tmp_path
    )
    assert merged == {
        "label_col": "target",
        "k_neighbors": 2,
        "seed": 9,
        "sampling_strategy": "all",
        "provenance": True,
    }


# --- whole jobs, in subprocesses -----------------------------------------------------


def test_python_m_spark_smote_balances_wdbc_and_reports(spark, wdbc_run):
    result, output = wdbc_run
    assert_ok(result)
    out = result.stdout
    assert "seed 42" in out
    assert "classes before: 'benign': 357, 'malignant': 212" in out
    assert "synthetic rows: 'malignant': 145" in out
    assert "classes after:  'benign': 357, 'malignant': 357" in out
    assert f"wrote {output}" in out
    written = spark.read.parquet(str(output))
    source = spark.read.parquet(str(WDBC))
    assert label_counts(written, "diagnosis") == {"benign": 357, "malignant": 357}
    assert written.columns == [*source.columns, "is_synthetic"]
    assert sorted_rows(written.where("NOT is_synthetic").drop("is_synthetic")) == sorted_rows(
        source
    )
    assert not [p for p in output.parent.iterdir() if p.name.startswith(f".{output.name}")]


def test_spark_submit_job_gives_the_same_rows_as_the_cli(spark, wdbc_run, tmp_path):
    _, cli_output = wdbc_run
    output = tmp_path / "wdbc_submit"
    job = [spark_submit(), "--master", "local[2]", "--driver-java-options", TEST_JAVA_OPTIONS]
    job.append(str(ROOT / "jobs" / "smote_job.py"))
    result = run_job(job, *cli_args(WDBC, output, *WDBC_ARGS))
    assert_ok(result)
    assert "classes after:  'benign': 357, 'malignant': 357" in result.stdout
    # A quiet console: no progress bars, a few dozen lines at most, and no Spark INFO
    # line, not even the SparkContext's first ones in the JVM spark-submit started.
    info = [line for line in result.stderr.splitlines() if " INFO " in line]
    assert not info, info
    assert "[Stage " not in result.stderr
    assert len((result.stdout + result.stderr).splitlines()) <= 40
    assert sorted_rows(spark.read.parquet(str(output))) == sorted_rows(
        spark.read.parquet(str(cli_output))
    )


@pytest.fixture
def int_label_input(spark, tmp_path) -> Path:
    rows = [(i, float(i % 9), float(i // 9), f"r{i}", 0) for i in range(45)]
    rows += [(100 + i, 20.0 + i % 4, 3.0 + i // 4, f"m{i}", 1) for i in range(12)]
    path = tmp_path / "ints.parquet"
    spark.createDataFrame(
        rows, "id long, a double, b double, note string, label int"
    ).write.parquet(str(path))
    return path


def test_console_script_with_json_dict_and_features_over_a_config_file(
    spark, int_label_input, tmp_path
):
    config = tmp_path / "job.toml"
    config.write_text(
        Path(TEST_CONFIG).read_text(encoding="utf-8")
        + '\n[smote]\nlabel_col = "label"\nk_neighbors = 50\nseed = 5\n',
        encoding="utf-8",
    )
    output = tmp_path / "balanced"
    script = Path(sys.executable).parent / "spark-smote"
    result = run_job(
        [str(script)],
        "--input",
        str(int_label_input),
        "--output",
        str(output),
        "--config",
        str(config),
        "--k-neighbors",
        "3",
        "--sampling-strategy",
        '{"1": 30}',
        "--features",
        "a, b",
        "--synthetic-col",
        "s",
    )
    assert_ok(result)
    assert "seed 5\n" in result.stdout  # from the file; k_neighbors=50 was overridden
    written = spark.read.parquet(str(output))
    assert label_counts(written, "label") == {0: 45, 1: 30}
    synthetic = written.where("s").collect()
    assert len(synthetic) == 18
    assert all(r["note"] is None and r["id"] is None for r in synthetic)
    assert all(20.0 <= r["a"] <= 23.0 and 3.0 <= r["b"] <= 5.0 for r in synthetic)


def test_bad_data_exits_2_and_writes_nothing(spark, tmp_path):
    source = tmp_path / "one_class.parquet"
    spark.createDataFrame([(float(i), 0) for i in range(20)], "x double, label int").write.parquet(
        str(source)
    )
    output = tmp_path / "never"
    result = run_job([sys.executable, "-m", "spark_smote"], *cli_args(source, output))
    assert result.returncode == 2, result.stderr[-3000:]
    assert "label column has 1 class(es) [0]" in result.stderr
    assert not output.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["one_class.parquet"]
