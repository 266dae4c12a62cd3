"""Resampling while fitting only: a Spark ML Estimator around any sampler of the family.

Where it sits: after the samplers. :class:`ResampledEstimator` is a Spark ML stage; its
``fit`` calls a sampler's ``fit_resample`` on the training data (the whole data flow of
that sampler, parameters -> ... -> output) and fits the inner Spark ML estimator on the
result. The :class:`ResampledModel` it returns scores data as it is: resampling never
touches the rows a model is validated or scored on.

The sampler is held by the ``sampler`` Param as a small JSON-able specification (its
class and the parameters the user gave), so that it can sit in a ``ParamGridBuilder``
grid, in saved metadata and in a saved ``CrossValidatorModel``'s grid alike; a fresh
sampler is built from it for every fit. Parameters a sampler left unset follow the inner
estimator: ``label_col`` its ``labelCol``, ``features`` its ``featuresCol``. The
specification and its rules live in :mod:`spark_smote._sampler_spec`.

Persistence (Spark ML's ``save``/``load``; classic and Spark Connect):

- ``ResampledEstimator``: ``metadata`` (Spark ML's format; the sampler specification is
  the ``sampler`` entry of its ``paramMap``) and ``estimator/`` (the inner estimator,
  saved by its own writer).
- ``ResampledModel``: the same, plus ``model/`` (the fitted inner model).
"""

from __future__ import annotations

import json
import os
import threading
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, cast

from pyspark import StorageLevel
from pyspark.ml import Estimator, Model
from pyspark.ml.param import Param, Params
from pyspark.ml.util import (
    DefaultParamsReader,
    DefaultParamsWriter,
    MLReadable,
    MLReader,
    MLWritable,
    MLWriter,
)
from pyspark.sql import DataFrame
from pyspark.sql.utils import is_remote

from spark_smote._errors import InvalidParameterError
from spark_smote._sampler_spec import (
    PARAMS,
    Sampler,
    build_sampler,
    fitted_sampler,
    resample_classes,
    sampler_spec,
)

__all__ = ["ResampledEstimator", "ResampledModel", "Sampler", "sampler_spec"]


def _checked_estimator(value: object) -> Estimator:
    if not isinstance(value, Estimator):
        raise InvalidParameterError(
            f"estimator={value!r}: expected a Spark ML Estimator such as "
            "RandomForestClassifier(labelCol='label', featuresCol='features')."
        )
    return value


# ---------------------------------------------------------------------------------------
# Params, estimator and model
# ---------------------------------------------------------------------------------------


class _ResampledParams(Params):
    """The Params shared by :class:`ResampledEstimator` and :class:`ResampledModel`."""

    estimator: Param[Estimator] = Param(
        Params._dummy(),
        "estimator",
        "the Spark ML estimator fitted on the resampled training data",
        typeConverter=_checked_estimator,
    )
    sampler: Param[Mapping[str, Any]] = Param(
        Params._dummy(),
        "sampler",
        "the sampler applied to the training data only (a spark_smote sampler, held as its "
        "class and given parameters)",
        typeConverter=sampler_spec,
    )

    def getEstimator(self) -> Estimator:  # noqa: N802 - Spark ML name
        """The inner Spark ML estimator."""
        return self.getOrDefault(self.estimator)

    def getSampler(self) -> Sampler:  # noqa: N802 - Spark ML name
        """A new sampler object built from the ``sampler`` Param."""
        return build_sampler(self.getOrDefault(self.sampler))


class ResampledEstimator(
    Estimator["ResampledModel"],
    _ResampledParams,
    MLReadable["ResampledEstimator"],
    MLWritable,
):
    """Fit a Spark ML estimator on resampled training data; score data as it is.

    ``fit`` resamples its input with ``sampler`` and fits ``estimator`` on the result;
    the returned :class:`ResampledModel` transforms with the fitted inner model and never
    resamples. Inside a ``Pipeline``, ``CrossValidator`` or ``TrainValidationSplit`` the
    sampler therefore sees each training fold only, and every validation fold is scored
    on original rows.

    Parameters
    ----------
    estimator : pyspark.ml.Estimator
        Any Spark ML estimator (classifier, regressor, or a Pipeline).
    sampler : sampler
        Any sampler of the family (``SMOTE(...)`` and the others): an object with
        ``fit_resample(df)`` and ``get_params()``. Its ``label_col`` and ``features``
        follow the estimator's ``labelCol`` and ``featuresCol`` unless given; given
        values that differ are an error. Give it a ``seed`` for reproducible fits.

    Notes
    -----
    ``sampler`` and ``estimator`` are Params: grids over either, and over the inner
    estimator's own Params (``addGrid(rf.numTrees, [...])``), work as with
    ``OneVsRest``: a param map given to ``fit`` is passed on to the inner estimator.
    The resampled data is persisted (memory and disk) while the inner estimator fits,
    since most estimators read their input more than once, and released afterwards.
    In tuning, grid points that share a sampler share its resample of each training
    fold (:meth:`fitMultiple`): a grid over the inner estimator's Params costs one
    resample per fold.

    Examples
    --------
    >>> from pyspark.ml.classification import LogisticRegression
    >>> from pyspark.ml.linalg import Vectors
    >>> from spark_smote import SMOTE, ResampledEstimator
    >>> rows = [(Vectors.dense([float(i), float(i % 3)]), 0.0) for i in range(20)]
    >>> rows += [(Vectors.dense([float(i), 5.0]), 1.0) for i in range(6)]
    >>> train = spark.createDataFrame(rows, ["features", "label"])
    >>> smote = SMOTE(k_neighbors=3, seed=1)
    >>> rs = ResampledEstimator(estimator=LogisticRegression(), sampler=smote)
    >>> model = rs.fit(train)
    >>> model.transform(train).count()
    26

    """

    def __init__(
        self, *, estimator: Estimator | None = None, sampler: Sampler | None = None
    ) -> None:
        super().__init__()
        if estimator is not None:
            self._set(estimator=estimator)
        if sampler is not None:
            self._set(sampler=sampler)
        if estimator is not None and sampler is not None:
            fitted_sampler(self.getOrDefault(self.sampler), estimator)  # fail early

    def setEstimator(self, value: Estimator) -> ResampledEstimator:  # noqa: N802 - Spark ML name
        """Set the inner Spark ML estimator."""
        return self._set(estimator=value)

    def setSampler(self, value: Sampler) -> ResampledEstimator:  # noqa: N802 - Spark ML name
        """Set the sampler."""
        return self._set(sampler=value)

    def copy(self, extra: dict[Param[Any], Any] | None = None) -> ResampledEstimator:
        """A copy with ``extra`` applied to this stage and passed on to the inner estimator."""
        extra = dict(extra or {})
        that: ResampledEstimator = Params.copy(self, extra)
        if that.isSet(that.estimator):
            that._set(estimator=that.getEstimator().copy(extra))
        return that

    def _checked_sampler(self) -> Sampler:
        """The sampler of this stage's fit, after checking that both Params are set."""
        for param in (self.estimator, self.sampler):
            if not self.isSet(param):
                raise InvalidParameterError(
                    f"ResampledEstimator: {param.name} is not set. Pass "
                    "ResampledEstimator(estimator=..., sampler=...)."
                )
        return fitted_sampler(self.getOrDefault(self.sampler), self.getEstimator())

    def _fit_resampled(self, resampled: DataFrame, sampler: Sampler) -> ResampledModel:
        """Fit the inner estimator on data ``sampler`` resampled; copy this stage's Params."""
        model = ResampledModel(model=self.getEstimator().fit(resampled))
        model.resample_report = getattr(sampler, "report_", None)
        return self._copyValues(model)

    def _fit(self, dataset: DataFrame) -> ResampledModel:
        sampler = self._checked_sampler()
        resampled = resample_classes(sampler, dataset)
        resampled.persist(StorageLevel.MEMORY_AND_DISK)
        try:
            return self._fit_resampled(resampled, sampler)
        finally:
            resampled.unpersist()

    def fitMultiple(  # noqa: N802 - Spark ML name
        self,
        dataset: DataFrame,
        paramMaps: Sequence[dict[Param[Any], Any]],  # noqa: N803
    ) -> Iterator[tuple[int, ResampledModel]]:
        """Fit one model per param map, resampling once per distinct sampler.

        ``CrossValidator`` and ``TrainValidationSplit`` call this for every training fold.
        Param maps that differ only in the inner estimator's Params (``lr.regParam``) give
        the same sampler, so the fold is resampled once for all of them and the inner
        estimator is fitted on that one result: the models are those separate ``fit``
        calls give when the sampler has a ``seed``. Without a seed, the maps sharing a
        sampler share one random draw.

        Returns
        -------
        iterator of (int, ResampledModel)
            Thread safe, as Spark ML's own: ``next`` gives ``(index into paramMaps,
            model)``, the indices of one sampler together.

        """
        return _FitsSharingResamples([self.copy(extra) for extra in paramMaps], dataset)

    def write(self) -> MLWriter:
        """A writer saving the metadata and the inner estimator."""
        return _ResampledWriter(self)

    @classmethod
    def read(cls) -> MLReader[ResampledEstimator]:
        """A reader for :meth:`save`'s layout."""
        return _ResampledReader(cls)


class _FitsSharingResamples:
    """``fitMultiple``'s iterator: each distinct sampler resamples once, shared by its maps.

    The resampled data of a sampler is persisted when its first map is fitted and released
    after its last, so at most one resample per thread is held at a time.
    """

    def __init__(self, stages: list[ResampledEstimator], dataset: DataFrame) -> None:
        self._stages = stages
        self._dataset = dataset
        self._samplers = [stage._checked_sampler() for stage in stages]  # fail before any fit
        self._keys = [
            json.dumps(sampler_spec(s), sort_keys=True, default=repr) for s in self._samplers
        ]
        first = {key: self._keys.index(key) for key in self._keys}
        self._order = sorted(range(len(stages)), key=lambda index: first[self._keys[index]])
        self._remaining = Counter(self._keys)
        self._resampled: dict[str, tuple[DataFrame, Sampler]] = {}
        self._key_locks = {key: threading.Lock() for key in first}
        self._lock = threading.Lock()
        self._taken = 0

    def __iter__(self) -> _FitsSharingResamples:
        return self

    def __next__(self) -> tuple[int, ResampledModel]:
        with self._lock:
            if self._taken == len(self._order):
                raise StopIteration("No models remaining.")
            index = self._order[self._taken]
            self._taken += 1
        key = self._keys[index]
        try:
            with self._key_locks[key]:
                if key not in self._resampled:
                    sampler = self._samplers[index]
                    resampled = resample_classes(sampler, self._dataset)
                    resampled.persist(StorageLevel.MEMORY_AND_DISK)
                    self._resampled[key] = (resampled, sampler)
                resampled, sampler = self._resampled[key]
            return index, self._stages[index]._fit_resampled(resampled, sampler)
        finally:
            with self._lock:
                self._remaining[key] -= 1
                done = self._remaining[key] == 0
            if done:
                with self._key_locks[key]:
                    held = self._resampled.pop(key, None)
                if held is not None:
                    held[0].unpersist()


class ResampledModel(Model, _ResampledParams, MLReadable["ResampledModel"], MLWritable):
    """The model fitted by :class:`ResampledEstimator`: the inner model, scoring as it is.

    Attributes
    ----------
    model : pyspark.ml.Model
        The fitted inner model; ``transform`` is its ``transform``.
    resample_report : object or None
        The sampler's ``report_`` of the fit (counts before and after, seed); None for a
        loaded model or a sampler without a report.

    """

    def __init__(self, model: Model | None = None) -> None:
        super().__init__()
        # Any: the inner model's own methods (getRegParam, summary, ...) are the point.
        self.model: Any = model
        self.resample_report: Any = None

    def _transform(self, dataset: DataFrame) -> DataFrame:
        if self.model is None:
            raise InvalidParameterError(
                "ResampledModel has no fitted model. Get one from ResampledEstimator.fit "
                "or ResampledModel.load."
            )
        return self.model.transform(dataset)

    def copy(self, extra: dict[Param[Any], Any] | None = None) -> ResampledModel:
        """A copy whose inner model is copied with ``extra`` too."""
        extra = dict(extra or {})
        that: ResampledModel = Params.copy(self, extra)
        if self.model is not None:
            that.model = self.model.copy(extra)
        return that

    def write(self) -> MLWriter:
        """A writer saving the metadata, the inner estimator and the inner model."""
        return _ResampledWriter(self)

    @classmethod
    def read(cls) -> MLReader[ResampledModel]:
        """A reader for :meth:`save`'s layout."""
        return _ResampledReader(cls)


# ---------------------------------------------------------------------------------------
# Persistence
# ---------------------------------------------------------------------------------------

_ESTIMATOR_DIR = "estimator"
_MODEL_DIR = "model"


class _ResampledWriter(MLWriter):
    """Metadata with the sampler specification, then each nested stage by its own writer."""

    def __init__(self, instance: ResampledEstimator | ResampledModel) -> None:
        super().__init__()
        self.instance = instance

    def _handleOverwrite(self, path: str) -> None:  # noqa: N802 - MLWriter hook
        if is_remote():
            from pyspark.ml.connect.readwrite import RemoteMLWriter

            RemoteMLWriter.handleOverwrite(path, True)
        else:
            super()._handleOverwrite(path)

    def saveImpl(self, path: str) -> None:  # noqa: N802 - MLWriter hook
        instance = self.instance
        params = DefaultParamsWriter.extractJsonParams(instance, ["estimator"])
        if instance.isSet(instance.sampler):
            try:
                json.dumps(params["sampler"])
            except (TypeError, ValueError):
                raise InvalidParameterError(
                    f"{type(instance).__name__}.save: the sampler's parameters "
                    f"{params['sampler'][PARAMS]!r} are not JSON values, so they cannot be "
                    "saved. Give the sampler plain parameters (str, numbers, lists, dicts)."
                ) from None
        has_estimator = instance.isSet(instance.estimator)
        estimator = instance.getEstimator() if has_estimator else None
        model = instance.model if isinstance(instance, ResampledModel) else None
        for name, stage in (("estimator", estimator), ("model", model)):
            if stage is not None and not isinstance(stage, MLWritable):
                raise InvalidParameterError(
                    f"{type(instance).__name__}.save: the inner {name} {stage!r} cannot be "
                    "saved (it is not MLWritable)."
                )
        DefaultParamsWriter.saveMetadata(
            instance,
            path,
            self.sparkSession,
            extraMetadata={"hasEstimator": has_estimator, "hasModel": model is not None},
            paramMap=params,
        )
        if estimator is not None:
            cast(MLWritable, estimator).write().session(self.sparkSession).save(
                os.path.join(path, _ESTIMATOR_DIR)
            )
        if model is not None:
            cast(MLWritable, model).write().session(self.sparkSession).save(
                os.path.join(path, _MODEL_DIR)
            )


class _ResampledReader(MLReader[Any]):
    def __init__(self, cls: type[ResampledEstimator] | type[ResampledModel]) -> None:
        super().__init__()
        self.cls = cls

    def load(self, path: str) -> Any:
        spark = self.sparkSession
        metadata = DefaultParamsReader.loadMetadata(path, spark)
        instance: ResampledEstimator | ResampledModel
        if issubclass(self.cls, ResampledModel):
            model: Model | None = None
            if metadata.get("hasModel"):
                model_path = os.path.join(path, _MODEL_DIR)
                model = DefaultParamsReader.loadParamsInstance(model_path, spark)
            instance = ResampledModel(model=model)
        else:
            instance = ResampledEstimator()
        instance._resetUid(metadata["uid"])
        DefaultParamsReader.getAndSetParams(instance, metadata, skipParams=["estimator"])
        if metadata.get("hasEstimator"):
            estimator: Estimator = DefaultParamsReader.loadParamsInstance(
                os.path.join(path, _ESTIMATOR_DIR), spark
            )
            instance._set(estimator=estimator)
        return instance
