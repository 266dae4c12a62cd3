"""Each bad input fails early with an error naming the parameter or column, the value
and the fix (issue 2, point 9)."""

from __future__ import annotations

import pytest

import spark_smote
from spark_smote import SMOTE
from spark_smote._output import check_paths
from spark_smote.cli import run as cli_main

SCHEMA = "id long, a double, b double, note string, label int"


def rows(n_major: int = 40, n_minor: int = 10) -> list[tuple]:
    return [(i, float(i), float(i % 7), f"r{i}", 0) for i in range(n_major)] + [
        (1000 + i, 50.0 + i, float(i % 3), f"m{i}", 1) for i in range(n_minor)
    ]


@pytest.fixture
def df(spark):
    return spark.createDataFrame(rows(), SCHEMA)


def resample(df, **options):
    params = {"label_col": "label", "seed": 1, "k_neighbors": 3}
    params.update(options)
    return SMOTE(**params).fit_resample(df)


# --- columns -----------------------------------------------------------------------


@pytest.mark.e2e
def test_missing_label_column(df):
    with pytest.raises(
        spark_smote.ColumnNotFoundError,
        match=r"label_col='target': no such column.*Present columns: \['id'",
    ):
        resample(df, label_col="target")


@pytest.mark.e2e
def test_missing_feature_column(df):
    with pytest.raises(
        spark_smote.ColumnNotFoundError, match=r"features='c': no such column.*Pass one of them"
    ):
        resample(df, features=["a", "c"])


@pytest.mark.e2e
def test_non_numeric_feature(df):
    with pytest.raises(
        spark_smote.ColumnTypeError,
        match=r"features: columns \{'note': 'string'\} are not numeric.*Encode",
    ):
        resample(df, features=["a", "note"])


# --- values ------------------------------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize(
    "bad_value",
    [None, float("nan"), float("inf"), float("-inf")],
    ids=["null", "nan", "inf", "-inf"],
)
@pytest.mark.parametrize("search", ["auto", "lsh"])
def test_bad_feature_values_name_the_column_and_count(spark, bad_value, search):
    # 'lsh' numbers and tunes the grown class in one task before the check fails.
    data = rows()
    for i in (3, 17, 42):
        data[i] = (*data[i][:2], bad_value, *data[i][3:])
    df = spark.createDataFrame(data, SCHEMA)
    with pytest.raises(
        spark_smote.InvalidFeatureValuesError,
        match=r"null, NaN or infinite values \('b': 3 row\(s\)\).*drop those rows.*impute",
    ):
        resample(df, features=["a", "b"], neighbor_search=search)


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("strategy", "search"),
    [("auto", "auto"), ("auto", "lsh"), ({0: 40, 1: 10}, "auto")],
    ids=["grown", "grown by lsh", "nothing to grow"],
)
def test_bad_values_in_a_class_left_alone_fail_too(spark, strategy, search):
    # Feature columns are checked in the pass that indexes the classes to grow: that
    # pass must see the other classes' bad values too (and with nothing to grow, a
    # pass of its own).
    data = rows()
    for i in (3, 17):
        data[i] = (*data[i][:2], float("nan"), *data[i][3:])
    df = spark.createDataFrame(data, SCHEMA)
    with pytest.raises(spark_smote.InvalidFeatureValuesError, match=r"\('b': 2 row\(s\)\)"):
        resample(df, features=["a", "b"], sampling_strategy=strategy, neighbor_search=search)


@pytest.mark.e2e
def test_bad_values_in_a_vector_column_name_it(spark):
    data = [(i, [float(i), float("nan") if i in (2, 5) else 1.0], i % 2) for i in range(30)]
    df = spark.createDataFrame(data, "id long, v array<double>, label int")
    with pytest.raises(spark_smote.InvalidFeatureValuesError, match=r"\('v': 2 row\(s\)\)"):
        resample(df, features="v")


# --- parameters --------------------------------------------------------------------


@pytest.mark.parametrize("k", [0, -2])
def test_k_neighbors_below_one(k):
    with pytest.raises(
        spark_smote.InvalidParameterError, match=rf"k_neighbors={k}: must be an int >= 1"
    ):
        SMOTE(k_neighbors=k)


def test_unknown_strategy_string():
    with pytest.raises(
        spark_smote.InvalidParameterError,
        match=r"sampling_strategy='majority': unknown strategy\. Use one of \['auto'",
    ):
        SMOTE(sampling_strategy="majority")


def _with_duplicate_id() -> list[tuple]:
    data = rows()
    data[5] = (7, *data[5][1:])
    return data


# Inputs the data or the strategy make bad: (rows, options, error, message).
BAD_DATA = {
    "single class": (
        rows(n_minor=0),
        {},
        spark_smote.InvalidInputError,
        r"label column has 1 class\(es\) \[0\].*two classes",
    ),
    "class to grow with too few rows": (
        rows(n_minor=5),
        {"k_neighbors": 5},
        spark_smote.InvalidInputError,
        r"k_neighbors=5: .*at least k_neighbors \+ 1 = 6 rows, but \{1: 5\}.*"
        r"Lower k_neighbors to at most 4",
    ),
    "duplicate id values": (
        _with_duplicate_id(),
        {"id_col": "id"},
        spark_smote.InvalidInputError,
        r"id_col='id' must be a unique.*7 x2.*leave id_col=None",
    ),
    "empty input": (
        [],
        {},
        spark_smote.InvalidInputError,
        r"input DataFrame is empty.*Check the input path",
    ),
    "float strategy on multi-class": (
        rows() + [(2000 + i, -50.0 - i, 0.0, "x", 2) for i in range(10)],
        {"sampling_strategy": 0.5},
        spark_smote.InvalidParameterError,
        r"sampling_strategy=0\.5: a float is only defined for binary labels.*3 classes"
        r".*Pass a dict",
    ),
    "dict asking fewer rows than present": (
        rows(),
        {"sampling_strategy": {1: 8}},
        spark_smote.InvalidParameterError,
        r"sampling_strategy\[1\]=8: over-sampling cannot shrink.*has 10 rows.*"
        r"Ask for at least 10",
    ),
    "dict naming an unknown class": (
        rows(),
        {"sampling_strategy": {3: 50}},
        spark_smote.InvalidParameterError,
        r"sampling_strategy names class 3, which is not present.*Present classes: \[0, 1\]",
    ),
}


@pytest.mark.e2e
@pytest.mark.parametrize(
    ("data", "options", "error", "message"), list(BAD_DATA.values()), ids=list(BAD_DATA)
)
def test_bad_data_or_strategy_fails_naming_the_fix(spark, data, options, error, message):
    df = spark.createDataFrame(data, SCHEMA)
    with pytest.raises(error, match=message):
        resample(df, **options)


# --- output paths (checked before Spark starts) -------------------------------------


def test_output_path_equal_to_input(tmp_path):
    source = tmp_path / "in.parquet"
    source.mkdir()
    with pytest.raises(
        spark_smote.OutputPathError, match=r"is the input path or inside it.*outside the input"
    ):
        check_paths(str(source), str(source) + "/", "overwrite")


def test_output_path_inside_input(tmp_path):
    source = tmp_path / "in.parquet"
    source.mkdir()
    with pytest.raises(
        spark_smote.OutputPathError, match=r"in\.parquet/balanced' is the input path or inside"
    ):
        check_paths(str(source), str(source / "balanced"), "overwrite")


def test_existing_output_without_overwrite_exits_2_and_writes_nothing(tmp_path, capsys):
    source = tmp_path / "in.parquet"
    source.mkdir()
    target = tmp_path / "out"
    target.mkdir()
    (target / "keep.txt").write_text("old output")
    status = cli_main(
        ["--input", str(source), "--output", str(target), "--label-col", "label", "--seed", "1"]
    )
    assert status == 2
    assert "already exists. Pass --mode overwrite" in capsys.readouterr().err
    assert sorted(p.name for p in target.iterdir()) == ["keep.txt"]
    assert (target / "keep.txt").read_text() == "old output"


def test_cli_output_inside_input_exits_2(tmp_path, capsys):
    source = tmp_path / "in.parquet"
    source.mkdir()
    status = cli_main(
        ["--input", str(source), "--output", str(source / "out"), "--label-col", "label"]
    )
    assert status == 2
    assert "is the input path or inside it" in capsys.readouterr().err
    assert not (source / "out").exists()
