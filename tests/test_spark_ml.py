"""ResampledEstimator in Spark ML: resampling while fitting only, tuning, persistence.

Every Spark test here is ``e2e`` (it runs again over Spark Connect) unless marked
``classic_only`` with its reason. The data sets are tiny: a tuning run fits one model per
fold and grid point, each with its own resampling.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from pyspark.ml import Estimator, Model, Pipeline, PipelineModel
from pyspark.ml.evaluation import Evaluator
from pyspark.ml.param.shared import HasFeaturesCol, HasLabelCol, HasPredictionCol
from pyspark.ml.util import DefaultParamsReadable, DefaultParamsWritable
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_smote import SMOTE, InvalidParameterError, ResampledEstimator, ResampledModel

MAJORITY = 24
MINORITY = 8  # per fold of two: 4 training rows, enough for k_neighbors=3


def _rows(spark: Any, *, majority: int = MAJORITY, minority: int = MINORITY) -> DataFrame:
    """Two classes with Spark ML's double labels, a vector column and a unique id."""
    from pyspark.ml.linalg import Vectors

    rows = [(i, Vectors.dense([float(i % 7), float(i % 5)]), 0.0) for i in range(majority)]
    rows += [
        (majority + i, Vectors.dense([3.0 + i % 3, 6.0 + i % 4]), 1.0) for i in range(minority)
    ]
    return spark.createDataFrame(rows, ["id", "features", "label"])


def _smote(**params: Any) -> SMOTE:
    defaults = {"k_neighbors": 3, "seed": 1, "id_col": "id", "synthetic_col": "is_synthetic"}
    return SMOTE(**{**defaults, **params})


def _logistic(**params: Any) -> Any:
    from pyspark.ml.classification import LogisticRegression

    return LogisticRegression(maxIter=5, **params)


def _scores(model: Any, df: DataFrame) -> list[tuple[int, list[float]]]:
    scored = model.transform(df).orderBy("id").select("id", "probability").collect()
    return [(row["id"], row["probability"].toArray().tolist()) for row in scored]


# ---------------------------------------------------------------------------------------
# Test doubles: an estimator that records what it was fitted on, an evaluator that
# records what it scores, a sampler that is not SMOTE.
# ---------------------------------------------------------------------------------------


class CountingModel(Model, HasFeaturesCol, HasLabelCol, HasPredictionCol):
    def __init__(self, rows: int = 0) -> None:
        super().__init__()
        self.rows = rows

    def _transform(self, dataset: DataFrame) -> DataFrame:
        return dataset.withColumn(self.getPredictionCol(), F.lit(0.0))


class CountingEstimator(Estimator[CountingModel], HasFeaturesCol, HasLabelCol, HasPredictionCol):
    """Records the row count per label of its training data."""

    def __init__(self, labelCol: str = "label", featuresCol: str = "features") -> None:  # noqa: N803
        super().__init__()
        self._set(labelCol=labelCol, featuresCol=featuresCol)

    def _fit(self, dataset: DataFrame) -> CountingModel:
        counts = dataset.groupBy(self.getLabelCol()).count().collect()
        model = CountingModel(sum(row["count"] for row in counts))
        model.counts = {row[0]: row["count"] for row in counts}  # type: ignore[attr-defined]
        return self._copyValues(model)


class RecordingEvaluator(Evaluator, DefaultParamsReadable, DefaultParamsWritable):
    """Accuracy; records the ids and columns of every data set it scores."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[frozenset[Any], list[str]]] = []

    def _evaluate(self, dataset: DataFrame) -> float:
        ids = [row["id"] for row in dataset.select("id").collect()]
        self.seen.append((frozenset(ids), dataset.columns))
        assert len(ids) == len(set(ids)), "a validation fold holds repeated ids"
        correct = dataset.agg(F.avg((F.col("prediction") == F.col("label")).cast("double")))
        return float(correct.first()[0])


class DuplicateMinority:
    """A sampler that is not SMOTE: adds one copy of every row of the class ``minority``."""

    def __init__(self, *, label_col: str = "label", minority: float = 1.0) -> None:
        self.label_col = label_col
        self.minority = minority

    def get_params(self) -> dict[str, Any]:
        return {"label_col": self.label_col, "minority": self.minority}

    def fit_resample(self, df: DataFrame) -> DataFrame:
        return df.unionByName(df.where(F.col(self.label_col) == str(self.minority)))


# ---------------------------------------------------------------------------------------
# The stage and its Params
# ---------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_sampler_param_holds_the_class_and_the_given_parameters(spark: Any) -> None:
    rs = ResampledEstimator(estimator=_logistic(), sampler=SMOTE(k_neighbors=3, seed=1))
    assert rs.getOrDefault(rs.sampler) == {
        "sampler_class": "spark_smote.SMOTE",
        "params": {"k_neighbors": 3, "seed": 1},
    }
    assert rs.getSampler().get_params() == SMOTE(k_neighbors=3, seed=1).get_params()


@pytest.mark.e2e
def test_a_param_map_reaches_the_inner_estimator_like_one_vs_rest(spark: Any) -> None:
    lr = _logistic()
    rs = ResampledEstimator(estimator=lr, sampler=_smote())
    copied = rs.copy({lr.regParam: 0.5, rs.sampler: SMOTE(k_neighbors=5, seed=2)})
    assert copied.getEstimator().getRegParam() == 0.5
    assert copied.getSampler().get_params()["k_neighbors"] == 5
    assert lr.getRegParam() == 0.0  # the original is untouched
    assert rs.getSampler().get_params()["k_neighbors"] == 3


@pytest.mark.e2e
def test_conflicting_label_columns_are_refused_naming_both(spark: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"label_col='y'.*labelCol='label'"):
        ResampledEstimator(estimator=_logistic(), sampler=SMOTE(label_col="y"))
    with pytest.raises(InvalidParameterError, match=r"features=\['a', 'b'\].*featuresCol="):
        ResampledEstimator(estimator=_logistic(), sampler=SMOTE(features=["a", "b"]))


@pytest.mark.e2e
def test_a_conflict_set_by_a_param_map_is_refused_before_resampling(spark: Any) -> None:
    lr = _logistic(labelCol="y")
    rs = ResampledEstimator(estimator=lr, sampler=SMOTE(label_col="y", seed=1))
    with pytest.raises(InvalidParameterError, match=r"label_col='y'.*labelCol='label'"):
        rs.fit(_rows(spark), {lr.labelCol: "label"})


@pytest.mark.e2e
def test_non_samplers_and_non_estimators_are_refused(spark: Any) -> None:
    with pytest.raises(InvalidParameterError, match=r"sampler=.*fit_resample"):
        ResampledEstimator(estimator=_logistic(), sampler="smote")  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match=r"estimator=.*Spark ML Estimator"):
        ResampledEstimator(estimator=SMOTE(), sampler=SMOTE())  # type: ignore[arg-type]
    with pytest.raises(InvalidParameterError, match="sampler is not set"):
        ResampledEstimator(estimator=_logistic()).fit(_rows(spark))


# ---------------------------------------------------------------------------------------
# Fitting: resampled training data, scoring as it is
# ---------------------------------------------------------------------------------------


@pytest.mark.e2e
def test_sampler_columns_follow_the_estimators(spark: Any) -> None:
    df = _rows(spark).withColumnsRenamed({"label": "y", "features": "f"})
    counting = CountingEstimator(labelCol="y", featuresCol="f")
    model = ResampledEstimator(estimator=counting, sampler=SMOTE(k_neighbors=3, seed=1)).fit(df)
    assert model.model.counts == {0.0: MAJORITY, 1.0: MAJORITY}


@pytest.mark.e2e
def test_any_object_with_fit_resample_and_get_params_is_a_sampler(spark: Any) -> None:
    rs = ResampledEstimator(estimator=CountingEstimator(), sampler=DuplicateMinority())
    assert rs.getOrDefault(rs.sampler)["sampler_class"].endswith("DuplicateMinority")
    model = rs.fit(_rows(spark))
    assert model.model.counts == {0.0: MAJORITY, 1.0: 2 * MINORITY}


@pytest.mark.e2e
def test_pipeline_trains_on_balanced_rows_and_scores_the_rows_given(
    spark: Any, tmp_path: Path
) -> None:
    from pyspark.ml.feature import VectorAssembler

    raw = _rows(spark).select(
        "id", F.col("id").cast("double").alias("a"), (F.col("id") % 3).alias("b"), "label"
    )
    raw = raw.withColumn("a", F.when(F.col("label") == 1.0, F.col("a") * 2).otherwise(F.col("a")))
    assembler = VectorAssembler(inputCols=["a", "b"], outputCol="features")
    rs = ResampledEstimator(estimator=_logistic(), sampler=_smote())
    fitted = Pipeline(stages=[assembler, rs]).fit(raw)
    resampled_model = fitted.stages[-1]
    assert isinstance(resampled_model, ResampledModel)
    training = resampled_model.model.summary.predictions
    assert training.count() == 2 * MAJORITY  # the inner estimator saw the balanced rows
    assert {r["label"]: r["count"] for r in training.groupBy("label").count().collect()} == {
        0.0: MAJORITY,
        1.0: MAJORITY,
    }
    scored = fitted.transform(raw)
    assert "is_synthetic" not in scored.columns
    assert sorted(r["id"] for r in scored.select("id").collect()) == list(
        range(MAJORITY + MINORITY)
    )
    report = resampled_model.resample_report
    assert report is not None and report.synthetic_counts == {"1.0": MAJORITY - MINORITY}

    # Persistence: the PipelineModel and the ResampledModel alone score exactly as before.
    fitted.write().overwrite().save(str(tmp_path / "pipeline_model"))
    resampled_model.save(str(tmp_path / "resampled_model"))
    resampled_model.write().overwrite().save(str(tmp_path / "resampled_model"))
    loaded = PipelineModel.load(str(tmp_path / "pipeline_model"))
    assert isinstance(loaded.stages[-1], ResampledModel)
    assert _scores(loaded, raw) == _scores(fitted, raw)
    alone = ResampledModel.load(str(tmp_path / "resampled_model"))
    assembled = assembler.transform(raw)
    assert _scores(alone, assembled) == _scores(resampled_model, assembled)
    assert alone.getOrDefault(alone.sampler) == rs.getOrDefault(rs.sampler)
    assert alone.getEstimator().getMaxIter() == 5


@pytest.mark.e2e
def test_estimator_saves_and_loads_with_its_sampler_and_inner_estimator(
    spark: Any, tmp_path: Path
) -> None:
    rs = ResampledEstimator(
        estimator=_logistic(regParam=0.25), sampler=_smote(sampling_strategy={1.0: 20})
    )
    rs.save(str(tmp_path / "rs"))
    loaded = ResampledEstimator.load(str(tmp_path / "rs"))
    assert loaded.uid == rs.uid
    assert loaded.getOrDefault(loaded.sampler) == rs.getOrDefault(rs.sampler)
    assert loaded.getSampler().get_params() == {
        **_smote().get_params(),
        "sampling_strategy": {"1.0": 20},
    }
    assert loaded.getEstimator().getRegParam() == 0.25
    assert loaded.getEstimator().uid == rs.getEstimator().uid


@pytest.mark.e2e
def test_pipeline_with_the_estimator_saves_and_loads(spark: Any, tmp_path: Path) -> None:
    rs = ResampledEstimator(estimator=_logistic(), sampler=_smote())
    Pipeline(stages=[rs]).save(str(tmp_path / "pipeline"))
    stage = Pipeline.load(str(tmp_path / "pipeline")).getStages()[0]
    assert isinstance(stage, ResampledEstimator)
    assert stage.getOrDefault(stage.sampler) == rs.getOrDefault(rs.sampler)


# ---------------------------------------------------------------------------------------
# Tuning: every validation fold is scored on original rows only
# ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tuned(spark: Any) -> tuple[Any, RecordingEvaluator, DataFrame, Any]:
    """CrossValidator, 2 user-given folds x 2 grid points that each set both the sampler
    and the inner estimator (every fit resamples: a grid point is a whole fit per fold)."""
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    df = _rows(spark).withColumn("fold", (F.col("id") % 2).cast("int"))
    rs = ResampledEstimator(estimator=_logistic(), sampler=_smote())
    points = [
        {rs.sampler: _smote(), rs.estimator: _logistic(regParam=0.0)},
        {rs.sampler: _smote(k_neighbors=2), rs.estimator: _logistic(regParam=0.5)},
    ]
    # The builder converts each value with its Param's converter, as a validator expects.
    grid = [m for point in points for m in ParamGridBuilder().baseOn(point).build()]
    evaluator = RecordingEvaluator()
    cv = CrossValidator(
        estimator=rs, estimatorParamMaps=grid, evaluator=evaluator, numFolds=2, foldCol="fold"
    )
    return cv, evaluator, df, cv.fit(df)


@pytest.mark.e2e
def test_cross_validation_scores_every_fold_on_original_rows_only(tuned: Any) -> None:
    _, evaluator, df, _ = tuned
    folds = {
        fold: frozenset(r["id"] for r in df.where(F.col("fold") == fold).select("id").collect())
        for fold in (0, 1)
    }
    assert len(evaluator.seen) == 2 * 2  # each fold, each grid point
    for ids, columns in evaluator.seen:
        # Synthetic rows carry a null id and the is_synthetic column: neither is here,
        # and each scored set is exactly one original fold.
        assert "is_synthetic" not in columns
        assert ids in folds.values(), sorted(ids)
    assert sum(1 for ids, _ in evaluator.seen if ids == folds[0]) == 2


@pytest.mark.e2e
def test_cross_validator_model_saves_and_loads(tuned: Any, tmp_path: Path) -> None:
    from pyspark.ml.tuning import CrossValidatorModel

    _, _, df, cv_model = tuned
    assert isinstance(cv_model.bestModel, ResampledModel)
    cv_model.save(str(tmp_path / "cv_model"))
    loaded = CrossValidatorModel.load(str(tmp_path / "cv_model"))
    assert loaded.avgMetrics == cv_model.avgMetrics
    assert _scores(loaded.bestModel, df) == _scores(cv_model.bestModel, df)
    samplers = [
        m for pm in loaded.getEstimatorParamMaps() for p, m in pm.items() if p.name == "sampler"
    ]
    assert {s["params"]["k_neighbors"] for s in samplers} == {2, 3}


@pytest.mark.e2e
def test_train_validation_split_over_inner_params_is_reproducible(spark: Any) -> None:
    from pyspark.ml.tuning import ParamGridBuilder, TrainValidationSplit

    df = _rows(spark, majority=32, minority=12)
    lr = _logistic()
    rs = ResampledEstimator(estimator=lr, sampler=_smote())
    grid = ParamGridBuilder().addGrid(lr.regParam, [0.0, 5.0]).build()

    def run() -> Any:
        evaluator = RecordingEvaluator()
        tvs = TrainValidationSplit(
            estimator=rs,
            estimatorParamMaps=grid,
            evaluator=evaluator,
            trainRatio=0.6,
            seed=5,
            collectSubModels=True,
        )
        return tvs.fit(df), evaluator

    first, evaluator = run()
    again, _ = run()
    assert first.validationMetrics == again.validationMetrics
    assert first.bestModel.model.getRegParam() in (0.0, 5.0)
    assert first.bestModel.model.getRegParam() == again.bestModel.model.getRegParam()
    assert _scores(first.bestModel, df) == _scores(again.bestModel, df)
    # Each grid point's regParam reached the inner estimator it fitted.
    assert [m.model.getRegParam() for m in first.subModels] == [0.0, 5.0]
    assert all("is_synthetic" not in columns for _, columns in evaluator.seen)


class CountingDuplicates(DuplicateMinority):
    """DuplicateMinority that counts its resamples (one process: the driver)."""

    resamples = 0

    def fit_resample(self, df: DataFrame) -> DataFrame:
        type(self).resamples += 1
        return super().fit_resample(df)


@pytest.mark.e2e
def test_fit_multiple_resamples_once_per_sampler_and_fits_as_fit_does(spark: Any) -> None:
    df = _rows(spark)
    lr = _logistic()
    rs = ResampledEstimator(estimator=lr, sampler=CountingDuplicates())
    maps = [
        {rs.sampler: sampler, lr.regParam: reg}
        for reg in (0.0, 0.5)
        for sampler in (CountingDuplicates(), CountingDuplicates(minority=0.0))
    ]
    CountingDuplicates.resamples = 0
    models = dict(rs.fitMultiple(df, maps))
    assert CountingDuplicates.resamples == 2  # two samplers, each shared by two regParams
    assert sorted(models) == [0, 1, 2, 3]
    for index, param_map in enumerate(maps):
        alone = rs.fit(df, param_map)
        assert models[index].model.getRegParam() == param_map[lr.regParam]
        assert _scores(models[index], df) == _scores(alone, df)


@pytest.mark.e2e
def test_validator_with_a_grid_over_inner_params_cannot_be_saved(
    spark: Any, tmp_path: Path
) -> None:
    """Spark ML limit: a validator's saved grid resolves params only through stages it
    knows how to descend (Pipeline, OneVsRest); a grid over ``rs.estimator`` saves."""
    from pyspark.ml.evaluation import BinaryClassificationEvaluator
    from pyspark.ml.tuning import CrossValidator, ParamGridBuilder

    lr = _logistic()
    rs = ResampledEstimator(estimator=lr, sampler=_smote())
    grid = ParamGridBuilder().addGrid(lr.regParam, [0.0, 0.5]).build()
    cv = CrossValidator(
        estimator=rs, estimatorParamMaps=grid, evaluator=BinaryClassificationEvaluator()
    )
    with pytest.raises(ValueError, match="requires all Params in estimatorParamMaps"):
        cv.save(str(tmp_path / "cv"))
