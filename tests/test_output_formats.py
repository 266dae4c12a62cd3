"""Output formats, partitioning and catalog tables of the command line.

The file outputs' command lines run in the session's batch process (``cli_batch``); the
table output runs in its own process, since its warehouse folder is a static setting of
the session it starts.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from pyspark.ml.linalg import VectorUDT
from pyspark.sql import types as T

from spark_smote import OutputPathError
from spark_smote._output import check_format, plain_encoding_options
from tests._reliability import as_process, batch_cases, run_command
from tests.helpers import label_counts

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "conf" / "test.toml"

pytestmark = pytest.mark.classic_only


@pytest.fixture(scope="module")
def small_input(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = [(i, float(i % 7), float(i // 7), 0) for i in range(24)]
    rows += [(100 + i, 30.0 + i % 3, 9.0 + i // 3, 1) for i in range(8)]
    path = tmp_path_factory.mktemp("formats") / "input.parquet"
    spark.createDataFrame(rows, "id long, x double, y double, label int").write.parquet(str(path))
    return path


def run_with_arguments(*args: str) -> subprocess.CompletedProcess[str]:
    """The command line with exactly these arguments (no input, output or config added)."""
    return run_command([sys.executable, "-m", "spark_smote", *args], timeout=900)


def _batch_argvs(folder: Path) -> dict[str, list[str]]:
    """The command lines of the file-output tests, which run in the session's batch."""
    source, config = str(folder / "input.parquet"), ["--config", str(TEST_CONFIG)]
    return {
        "json": [
            *["--input", source, "--output", str(folder / "json"), *config],
            *["--k-neighbors", "3", "--seed", "1", "--format", "json", "--partition-by", "label"],
        ],
        "parquet": [
            *["--input", source, "--output", str(folder / "parquet"), *config],
            *["--k-neighbors", "3", "--seed", "1", "--id-col", "id"],
        ],
    }


@batch_cases(order=1)
def format_cases(folder: Path) -> list[dict[str, Any]]:
    """``small_input``'s rows, written with pyarrow; the file-output command lines."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    ids = [*range(24), *range(100, 108)]
    table = pa.table(
        {
            "id": pa.array(ids, pa.int64()),
            "x": pa.array([float(i % 7) for i in range(24)] + [30.0 + i % 3 for i in range(8)]),
            "y": pa.array([float(i // 7) for i in range(24)] + [9.0 + i // 3 for i in range(8)]),
            "label": pa.array([0] * 24 + [1] * 8, pa.int32()),
        }
    )
    (folder / "input.parquet").mkdir()
    pq.write_table(table, folder / "input.parquet" / "part-0.parquet")
    return [{"name": name, "argv": argv} for name, argv in _batch_argvs(folder).items()]


def batch_result(
    cli_batch: dict[str, Any], name: str
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The batch folder and the finished command line ``name`` of :func:`format_cases`."""
    folder, results = cli_batch[__name__]
    return folder, as_process(_batch_argvs(folder)[name], results[name])


def test_json_output_partitioned_by_label(spark: Any, cli_batch: dict[str, Any]) -> None:
    folder, result = batch_result(cli_batch, "json")
    output = folder / "json"
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(p.name for p in output.iterdir() if p.is_dir()) == ["label=0", "label=1"]
    assert (output / "_smote_report.json").is_file()
    assert label_counts(spark.read.json(str(output)), "label") == {0: 24, 1: 24}


def test_table_output_is_written_through_the_catalog(
    spark: Any, small_input: Path, tmp_path: Path
) -> None:
    warehouse = tmp_path / "warehouse"
    config = tmp_path / "table.toml"
    config.write_text(
        TEST_CONFIG.read_text(encoding="utf-8")
        + f'"spark.sql.warehouse.dir" = "{warehouse.as_posix()}"\n',
        encoding="utf-8",
    )
    result = run_with_arguments(
        *["--input", str(small_input), "--table", "balanced", "--config", str(config)],
        *["--k-neighbors", "3", "--seed", "1", "--format", "orc"],
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "spark-smote: report (not saved beside a table" in result.stdout
    written = spark.read.orc(str(warehouse / "balanced"))
    assert label_counts(written, "label") == {0: 24, 1: 24}


def _encodings(folder: Path) -> dict[str, set[str]]:
    import pyarrow.parquet as pq

    found: dict[str, set[str]] = {}
    for part in sorted(folder.glob("*.parquet")):
        metadata = pq.ParquetFile(part).metadata
        for g in range(metadata.num_row_groups):
            for c in range(metadata.num_columns):
                column = metadata.row_group(g).column(c)
                found.setdefault(column.path_in_schema, set()).update(column.encodings)
    return found


def test_parquet_output_writes_interpolated_features_without_a_dictionary(
    spark: Any, cli_batch: dict[str, Any]
) -> None:
    folder, result = batch_result(cli_batch, "parquet")
    output = folder / "parquet"
    assert result.returncode == 0, result.stderr[-3000:]
    encodings = _encodings(output)
    dictionary = {"PLAIN_DICTIONARY", "RLE_DICTIONARY"}
    assert not encodings["x"] & dictionary and not encodings["y"] & dictionary
    assert encodings["label"] & dictionary
    assert label_counts(spark.read.parquet(str(output)), "label") == {0: 24, 1: 24}


def test_plain_encoding_options_name_floating_columns_of_parquet_output_only() -> None:
    schema = T.StructType(
        [
            T.StructField("a", T.DoubleType()),
            T.StructField("b", T.FloatType()),
            T.StructField("n", T.IntegerType()),
            T.StructField("label", T.IntegerType()),
        ]
    )
    expected = {"parquet.enable.dictionary#a": "false", "parquet.enable.dictionary#b": "false"}
    assert plain_encoding_options(schema, ["a", "b", "n"], "Parquet") == expected
    assert plain_encoding_options(schema, ["a", "b", "n"], "orc") == {}
    assert plain_encoding_options(schema, ["a", "b", "n"], None) == {}


def test_csv_refuses_vector_columns_with_what_to_do() -> None:
    schema = T.StructType(
        [T.StructField("features", VectorUDT()), T.StructField("label", T.IntegerType())]
    )
    with pytest.raises(OutputPathError, match=r"--format 'csv' cannot hold vector.*features"):
        check_format(schema, "csv", [])


def test_csv_accepts_flat_columns() -> None:
    schema = T.StructType(
        [T.StructField("x", T.DoubleType()), T.StructField("label", T.LongType())]
    )
    check_format(schema, "csv", ["label"])


def test_unknown_partition_column_is_refused() -> None:
    schema = T.StructType([T.StructField("x", T.DoubleType())])
    with pytest.raises(OutputPathError, match=r"--partition-by 'lbl': no such column"):
        check_format(schema, "parquet", ["lbl"])


def test_output_and_table_are_exclusive(small_input: Path, tmp_path: Path) -> None:
    from spark_smote.cli import build_parser

    with pytest.raises(SystemExit):
        build_parser().parse_args(
            ["--input", str(small_input), "--output", str(tmp_path), "--table", "t"]
        )
