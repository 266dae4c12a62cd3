"""Catalogue of bad and unusual inputs, through the command line (issue 5, point 5).

Complements ``tests/test_bad_input.py`` (issue 2's list) with the reliability extras:
labels all null or of an unsupported type, string features, vectors of mixed lengths,
zero-variance features, one row, identical rows, k larger than the smallest class, a
strategy asking for billions of rows, unreadable or non-Parquet input, bad config
files, and more. Every case is a real ``spark-smote`` command line
(:func:`spark_smote.cli.run`); all cases share one Spark process (the session's
``cli_batch``, ``_cli_batch.py``).

Each case ends either with exit status 2 and a message naming the parameter or
column, the value and the fix, or with a documented behaviour that is checked. No
case leaves output, or a staging folder, behind unless it succeeded.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._reliability import TEST_CONFIG, batch_cases, class_counts, staging_leftovers

N_MAJOR, N_MINOR = 30, 10
# Column names of the internal tables, given to input columns.
_INTERNAL_NAMES = ("_smote_label", "_smote_class", "_smote_n", "_smote_new", "_smote_x")


def _write(folder: Path, table: pa.Table) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, folder / "part-0.parquet")
    return folder


def _binary(n_major: int = N_MAJOR, n_minor: int = N_MINOR, **columns: Any) -> pa.Table:
    """Two well-separated classes (labels 0 and 1), features x1, x2; extra columns."""
    rng = np.random.default_rng(11)
    n = n_major + n_minor
    label = np.array([0] * n_major + [1] * n_minor, dtype=np.int64)
    data: dict[str, Any] = {
        "id": np.arange(n, dtype=np.int64),
        "x1": rng.normal(size=n) + 5 * label,
        "x2": rng.normal(size=n),
        "label": label,
    }
    data.update(columns)
    return pa.table(data)


def _replace(table: pa.Table, name: str, values: pa.Array) -> pa.Table:
    return table.set_column(table.schema.get_field_index(name), name, values)


@dataclass
class Case:
    """One command line: its input, extra arguments and expected outcome."""

    build: Callable[[Path], Path]
    args: list[str] = field(default_factory=list)
    exit: int = 2
    message: str | None = None
    check: Callable[[Path], None] | None = None
    config: str | None = None  # TOML text replacing conf/test.toml


def _table_case(table: Callable[[], pa.Table], **kwargs: Any) -> Case:
    return Case(build=lambda folder: _write(folder, table()), **kwargs)


def _config_case(config: str, message: str) -> Case:
    """Good input, a bad TOML configuration in place of conf/test.toml."""
    return _table_case(_binary, config=config, message=message)


def _check_zero_variance(output: Path) -> None:
    out = pq.read_table(str(output)).to_pandas()
    assert class_counts(output) == {0: N_MAJOR, 1: N_MAJOR}
    assert (out["x2"] == 7.5).all()  # a constant feature stays constant
    assert out["x1"].notna().all()


def _check_identical_minority(output: Path) -> None:
    out = pq.read_table(str(output)).to_pandas()
    minority = out[out["label"] == 1]
    assert len(minority) == N_MAJOR
    # Every neighbour of an identical row is at distance 0: synthetic rows are copies.
    assert (minority["x1"] == 4.0).all() and (minority["x2"] == -1.0).all()


def _check_unicode_names(output: Path) -> None:
    assert class_counts(output, "class label") == {"a b": N_MAJOR, "é ü": N_MAJOR}


def _check_finite(output: Path) -> None:
    out = pq.read_table(str(output)).to_pandas()
    assert class_counts(output) == {0: N_MAJOR, 1: N_MAJOR}
    assert np.isfinite(out[["x1", "x2"]].to_numpy()).all()


def _check_internal_names(output: Path) -> None:
    out = pq.read_table(str(output)).to_pandas()
    assert class_counts(output) == {0: N_MAJOR, 1: N_MAJOR}
    for name in _INTERNAL_NAMES:  # the input's values kept; synthetic rows get nulls
        assert (out[name].dropna() == name).sum() == _N
        assert out[name].isna().sum() == N_MAJOR - N_MINOR


def _csv_input(folder: Path) -> Path:
    folder.mkdir(parents=True)
    path = folder / "data.csv"
    path.write_text("x1,x2,label\n1.0,2.0,0\n3.0,4.0,1\n")
    return path


def _corrupt_parquet(folder: Path) -> Path:
    folder.mkdir(parents=True)
    (folder / "part-0.parquet").write_bytes(b"PAR1 this is not a parquet file")
    return folder


def _empty_folder(folder: Path) -> Path:
    folder.mkdir(parents=True)
    return folder


def _output_under_a_file(folder: Path) -> Path:
    _write(folder, _binary())
    (folder.parent / "a-file").write_text("not a folder")
    return folder


_N = N_MAJOR + N_MINOR
CASES: dict[str, Case] = {
    "label_all_null": _table_case(
        lambda: _replace(_binary(), "label", pa.nulls(_N, pa.int64())),
        message=r"label_col='label' has 40 null value\(s\) out of 40 rows.*dropna",
    ),
    "label_double": _table_case(
        lambda: _replace(_binary(), "label", pa.array([0.0] * N_MAJOR + [1.0] * N_MINOR)),
        message=r"label_col='label' has type double.*cast",
    ),
    "label_array": _table_case(
        lambda: _replace(_binary(), "label", pa.array([[0]] * N_MAJOR + [[1]] * N_MINOR)),
        message=r"label_col='label' has type array<bigint>",
    ),
    "label_struct": _table_case(
        lambda: _replace(_binary(), "label", pa.array([{"c": 0}] * N_MAJOR + [{"c": 1}] * N_MINOR)),
        message=r"label_col='label' has type struct<c:bigint>",
    ),
    "label_date": _table_case(
        lambda: _replace(
            _binary(),
            "label",
            pa.array([0] * N_MAJOR + [1] * N_MINOR, pa.int32()).cast(pa.date32()),
        ),
        message=r"label_col='label' has type date",
    ),
    "string_feature_column": _table_case(
        lambda: _binary(s=[str(i) for i in range(_N)]),
        args=["--features", "x1,s"],
        message=r"features: columns \{'s': 'string'\} are not numeric",
    ),
    "no_numeric_column": _table_case(
        lambda: pa.table({"s": [str(i) for i in range(_N)], "label": [0] * 30 + [1] * 10}),
        message=r"features=None selects every numeric column.*there is none",
    ),
    "array_mixed_lengths": _table_case(
        lambda: _binary(v=[[1.0, float(i)] if i % 2 else [1.0, 2.0, float(i)] for i in range(_N)]),
        args=["--features", "v"],
        message=r"features='v': vectors have different lengths \(from 2 to 3\)",
    ),
    "array_empty": _table_case(
        lambda: _binary(v=pa.array([[]] * _N, pa.list_(pa.float64()))),
        args=["--features", "v"],
        message=r"features='v': vectors are empty",
    ),
    "zero_variance_feature": _table_case(
        lambda: _replace(_binary(), "x2", pa.array([7.5] * _N)),
        args=["--features", "x1,x2"],
        exit=0,
        check=_check_zero_variance,
    ),
    "one_row": _table_case(
        lambda: _binary().slice(0, 1),
        message=r"label column has 1 class\(es\) \[0\]",
    ),
    "all_rows_identical": _table_case(
        lambda: pa.table({"x1": [1.0] * _N, "x2": [2.0] * _N, "label": [1] * _N}),
        message=r"label column has 1 class\(es\) \[1\]",
    ),
    "identical_minority_rows": _table_case(
        lambda: _replace(
            _replace(_binary(), "x1", pa.array([0.5] * N_MAJOR + [4.0] * N_MINOR)),
            "x2",
            pa.array([0.5] * N_MAJOR + [-1.0] * N_MINOR),
        ),
        exit=0,
        check=_check_identical_minority,
    ),
    "k_larger_than_smallest_class": _table_case(
        lambda: _binary(n_minor=4),
        args=["--k-neighbors", "5"],
        message=r"k_neighbors=5: classes to grow need at least k_neighbors \+ 1 = 6 rows, "
        r"but \{1: 4\}",
    ),
    "billions_of_rows_asked": _table_case(
        _binary,
        args=["--sampling-strategy", '{"1": 5000000000}'],
        message=r"sampling_strategy\['1'\]=5000000000: .* at most 100 x the largest class",
    ),
    "input_missing": Case(
        build=lambda folder: folder / "does-not-exist",
        message=r"--input '.*does-not-exist': no such file or folder",
    ),
    "input_csv_file": Case(
        build=_csv_input, message=r"--input '.*data.csv': cannot be read as Parquet"
    ),
    "input_empty_folder": Case(
        build=_empty_folder, message=r"--input '.*': cannot be read as Parquet"
    ),
    "input_corrupt_parquet": Case(
        build=_corrupt_parquet, message=r"--input '.*': cannot be read as Parquet"
    ),
    "config_unknown_table": _config_case(
        '[job]\nmaster = "local[2]"\n[extra]\na = 1\n', r"unknown table\(s\) \['extra'\]"
    ),
    "config_unknown_key": _config_case(
        "[smote]\nk_neighbours = 3\n",
        r"unknown key smote.k_neighbours = 3. Allowed keys in \[smote\]",
    ),
    "config_wrong_type": _config_case(
        '[smote]\nk_neighbors = "3"\n', r"smote.k_neighbors = '3' has type str; expected int"
    ),
    "config_section_not_a_table": _config_case(
        "smote = 3\n", r"smote = 3 is not a table; write its settings under a \[smote\] section"
    ),
    "config_not_toml": _config_case("this is = = not toml\n", r"not a readable TOML file"),
    "config_bad_mode": _config_case('[job]\nmode = "append"\n', r"job.mode = 'append'; use one of"),
    "synthetic_col_exists": _table_case(
        _binary,
        args=["--synthetic-col", "x2", "--features", "x1"],
        message=r"synthetic_col: the output column 'x2' already exists",
    ),
    "null_ids": _table_case(
        lambda: _replace(_binary(), "id", pa.array([None, *range(1, _N)], pa.int64())),
        args=["--id-col", "id"],
        message=r"id_col='id' must be a unique, non-null row id.*None x1",
    ),
    "output_under_a_file": Case(
        build=_output_under_a_file,
        message=r"--output '.*a-file/out': .*a-file.* is a file",
    ),
    "dotted_column_names": _table_case(
        lambda: pa.table(
            {
                "x.1": np.arange(_N, dtype=np.float64),
                "x2": np.arange(_N, dtype=np.float64) ** 2,
                "label": [0] * N_MAJOR + [1] * N_MINOR,
            }
        ),
        message=r"input columns \['x.1'\]: names containing '.' or '`' are not supported.*"
        r"withColumnsRenamed\(\{'x.1': 'x_1'\}\)",
    ),
    "spaces_and_unicode_column_names": _table_case(
        lambda: pa.table(
            {
                "x 1": np.arange(_N, dtype=np.float64),
                "größe ✓": np.arange(_N, dtype=np.float64) ** 2,
                "class label": ["a b"] * N_MAJOR + ["é ü"] * N_MINOR,
            }
        ),
        args=["--label-col", "class label"],
        exit=0,
        check=_check_unicode_names,
    ),
    "input_columns_named_like_internal_ones": _table_case(
        lambda: _binary(**{name: [name] * _N for name in _INTERNAL_NAMES}),
        exit=0,
        check=_check_internal_names,
    ),
    "extreme_finite_values": _table_case(
        lambda: _replace(
            _binary(),
            "x1",
            pa.array([0.0] * N_MAJOR + [(-1) ** i * 1.7e308 for i in range(N_MINOR)]),
        ),
        args=["--k-neighbors", "5"],  # the 5th neighbour has the opposite sign
        exit=0,
        check=_check_finite,
    ),
}


def _output(name: str, folder: Path) -> Path:
    """Where the command line of case ``name`` writes (``folder`` is the case's own)."""
    if name == "output_under_a_file":
        return folder / "a-file" / "out"
    return folder / "out"


def _argv(name: str, case: Case, folder: Path) -> tuple[list[str], Path]:
    source = case.build(folder / "input")
    output = _output(name, folder)
    config = TEST_CONFIG
    if case.config is not None:
        config = str(folder / "job.toml")
        Path(config).write_text(case.config)
    argv = [
        "--input",
        str(source),
        "--output",
        str(output),
        "--config",
        config,
        "--master",
        "local[2]",
        "--label-col",
        "label",
        "--k-neighbors",
        "3",
        "--seed",
        "3",
        *case.args,
    ]
    return argv, output


@batch_cases(order=1)
def edge_cases(base: Path) -> list[dict[str, Any]]:
    """Every case's command line, for the session's batch subprocess."""
    return [{"name": n, "argv": _argv(n, case, base / n)[0]} for n, case in CASES.items()]


@pytest.fixture(scope="module")
def results(cli_batch: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Exit status and output per case, from the session's batch subprocess."""
    base, batch = cli_batch[__name__]
    results = {name: dict(result) for name, result in batch.items()}
    for name in CASES:
        results[name]["output"] = str(_output(name, base / name))
    return results


def test_catalogue_has_at_least_20_distinct_cases() -> None:
    assert len(CASES) >= 20


@pytest.mark.parametrize("name", list(CASES))
def test_edge_case(name: str, results: dict[str, dict[str, Any]]) -> None:
    case, result = CASES[name], results[name]
    output = Path(result["output"])
    detail = f"exit {result['exit']}\nstdout: {result['stdout']}\nstderr: {result['stderr']}"
    assert result["exit"] == case.exit, detail
    if case.message is not None:
        assert re.search(case.message, result["stderr"], re.DOTALL), detail
        assert result["stderr"].startswith("spark-smote: error: "), detail  # no traceback
    if case.exit == 0:
        assert case.check is not None
        case.check(output)
    else:
        assert not output.exists(), "a failed run left output"
    assert staging_leftovers(output.parent, output.name) == []
