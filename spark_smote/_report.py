"""Run report of a job: ``_smote_report.json`` and, with the ``plot`` extra, a PNG.

Used by the command line after :class:`spark_smote.SMOTE` has planned the run. The JSON
holds the parameters, the seed used, class counts before and after, the neighbour
method and its tuned parameters per class, the measured recall when LSH was used, the
time per phase, the Spark, Python and library versions, and under ``sampler_report``
the fields a sampler's report adds to SMOTE's (Borderline-SMOTE's danger and noise
counts, ADASYN's ratio sums, a cleaner's removals, the cross-class search and its
agreement with exact search): every dataclass field not already at the top level, so a
new sampler's report appears without a change here. For a path output both
files are written inside the output folder (``_smote_report.json``,
``_smote_report.png``) before it is renamed into place, so they appear with the data;
Spark's readers skip files whose name starts with an underscore.

The PNG (needs matplotlib: ``pip install 'spark-smote[plot]'``) shows the class counts
before and after, and a 2-D PCA projection of original against synthetic rows of the
grown classes. The PCA is computed in Spark: one aggregation gives the mean and the
second moments of the original rows of the grown classes (a d x d matrix reaches the
driver), numpy finds the two leading eigenvectors, and a seeded sample of at most
``PLOT_SAMPLE_ROWS`` original and as many synthetic rows is projected on the driver.
"""

from __future__ import annotations

import json
import platform
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field, fields, is_dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

__all__ = [
    "PLOT_MAX_DIMENSION",
    "PLOT_SAMPLE_ROWS",
    "REPORT_NAME",
    "PhaseClock",
    "Projection",
    "build_report",
    "pca_projection",
    "sampler_fields",
    "summary_line",
    "write_plot",
    "write_report",
]

REPORT_NAME = "_smote_report.json"
PLOT_NAME = "_smote_report.png"
# Rows of each kind (original, synthetic) projected for the plot.
PLOT_SAMPLE_ROWS = 2000
# Above this many features the PCA's d x d moment aggregation is skipped.
PLOT_MAX_DIMENSION = 128


@dataclass
class PhaseClock:
    """Wall-clock seconds per phase, printed as each phase ends.

    Attributes
    ----------
    seconds : dict
        Phase name: seconds, in the order the phases ran.

    """

    seconds: dict[str, float] = field(default_factory=dict)
    echo: bool = True
    _last: float = field(default_factory=time.monotonic)

    def done(self, phase: str, seconds: float | None = None) -> None:
        """Close ``phase`` (its time is measured since the previous one, unless given)."""
        now = time.monotonic()
        elapsed = now - self._last if seconds is None else seconds
        self._last = now
        self.seconds[phase] = self.seconds.get(phase, 0.0) + elapsed
        if self.echo:
            print(f"spark-smote: phase {phase}: {elapsed:.1f} s", flush=True)


# Report fields build_report writes at the top level (SMOTE's report has them all);
# every other dataclass field of a sampler's report goes under "sampler_report".
_TOP_LEVEL_FIELDS = frozenset(
    {
        "seed",
        "seed_was_given",
        "class_counts_before",
        "synthetic_counts",
        "neighbor_method",
        "neighbor_parameters",
        "categorical_median_std",
        "phase_seconds",
    }
)


def _plain(value: Any) -> Any:
    """A JSON-ready copy: dict keys as strings, numpy scalars as Python numbers."""
    if is_dataclass(value) and not isinstance(value, type):
        return _plain(asdict(value))
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


def sampler_fields(report: Any) -> dict[str, Any]:
    """The fields a sampler's report adds to SMOTE's, JSON-ready, in declaration order.

    Parameters
    ----------
    report : dataclass instance
        A sampler's ``report_`` (any dataclass; nested dataclasses become dicts).

    Returns
    -------
    dict
        Field name: value, for every field but the ones :func:`build_report` writes at
        the top level, the report class's own fields before its bases'; empty for
        SMOTE's own report or a non-dataclass.

    """
    if not is_dataclass(report) or isinstance(report, type):
        return {}
    names = [f.name for f in fields(report) if f.name not in _TOP_LEVEL_FIELDS]
    # The most derived class's fields first: a sampler's own decisions lead the line.
    declared = [n for cls in type(report).__mro__ for n in vars(cls).get("__annotations__", {})]
    names.sort(key=lambda name: declared.index(name) if name in declared else len(declared))
    return {name: _plain(getattr(report, name)) for name in names}


def _brief(value: Any, depth: int) -> str | None:
    """``value`` for one line: scalars, and mappings nested at most ``depth`` deep."""
    if value is None or isinstance(value, bool | int | str):
        return repr(value) if isinstance(value, str) else str(value)
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, Mapping) and depth > 0:
        entries = [(k, _brief(v, depth - 1)) for k, v in value.items()]
        return "{" + ", ".join(f"{k}: {text}" for k, text in entries if text is not None) + "}"
    return None


def summary_line(own_fields: Mapping[str, Any]) -> str:
    """One line of ``name=value`` for :func:`sampler_fields`' output (the command line's).

    Scalars and mappings are shown two levels deep; lists and deeper values are left
    to the JSON report.
    """
    parts = ((name, _brief(value, 2)) for name, value in own_fields.items())
    return ", ".join(f"{name}={text}" for name, text in parts if text is not None)


def build_report(
    *,
    parameters: Mapping[str, Any],
    smote_report: Any,
    destination: Mapping[str, Any],
    phase_seconds: Mapping[str, float],
    recall: Any = None,
    spark_version: str | None = None,
    plot: str | None = None,
) -> dict[str, Any]:
    """The run report as a JSON-ready dict.

    Parameters
    ----------
    parameters : mapping
        The SMOTE keyword arguments of the run.
    smote_report : SMOTEReport or another sampler's report
        The sampler's ``report_`` after the run; the fields it adds to SMOTE's go
        under ``sampler_report`` (:func:`sampler_fields`).
    destination : mapping
        Where the output went (input, output or table, format, partitioning).
    phase_seconds : mapping
        Seconds per phase.
    recall : RecallReport, optional
        Measured recall of the LSH search, when it ran.
    spark_version : str, optional
        ``spark.version`` of the session.
    plot : str, optional
        File name of the PNG, when one was written.

    """
    recall_part = None
    if recall is not None:
        recall_part = {
            "k": recall.k,
            "recall": recall.recall,
            "per_class": recall.per_class,
            "sample_sizes": recall.sample_sizes,
        }
    document = {
        "parameters": dict(parameters),
        "seed": smote_report.seed,
        "seed_was_given": smote_report.seed_was_given,
        "destination": dict(destination),
        "class_counts_before": smote_report.class_counts_before,
        "synthetic_counts": smote_report.synthetic_counts,
        "removed_counts": getattr(smote_report, "removed_counts", None),
        "lsh_agreement": getattr(smote_report, "lsh_agreement", None),
        "class_counts_after": smote_report.class_counts_after,
        "neighbor_method": smote_report.neighbor_method,
        "neighbor_parameters": smote_report.neighbor_parameters,
        "categorical_median_std": smote_report.categorical_median_std,
        "recall": recall_part,
        "phase_seconds": dict(phase_seconds),
        "total_seconds": sum(phase_seconds.values()),
        "versions": {
            "spark_smote": _version("spark-smote"),
            "spark": spark_version,
            "pyspark": _version("pyspark"),
            "python": platform.python_version(),
            "numpy": _version("numpy"),
        },
        "plot": plot,
        "sampler_report": sampler_fields(smote_report),
    }
    return dict(_plain(document))


def write_report(document: Mapping[str, Any], folder: Path) -> Path:
    """Write ``_smote_report.json`` into ``folder``; return its path."""
    path = folder / REPORT_NAME
    path.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return path


@dataclass(frozen=True)
class Projection:
    """Rows of the grown classes projected on the two leading principal components.

    Attributes
    ----------
    original, synthetic : ndarray
        (n, 2) coordinates of the sampled original and synthetic rows.
    explained : tuple of float
        Fraction of the variance of the original rows along each component.

    """

    original: np.ndarray
    synthetic: np.ndarray
    explained: tuple[float, float]


def _sample(rows: DataFrame, values: Column, total: int, seed: int) -> np.ndarray:
    """A seeded sample of at most about PLOT_SAMPLE_ROWS feature rows, as a matrix."""
    fraction = min(1.0, PLOT_SAMPLE_ROWS / max(total, 1))
    draw = F.shiftrightunsigned(F.xxhash64(F.lit(seed), values), 11).cast("double") * F.lit(
        2.0**-53
    )
    picked = rows.select(values.alias("v")).where(draw < F.lit(fraction))
    collected = picked.limit(PLOT_SAMPLE_ROWS).collect()
    if not collected:
        return np.zeros((0, 0))
    return np.array([row["v"] for row in collected], dtype=np.float64)


def pca_projection(
    original: DataFrame,
    synthetic: DataFrame,
    values: Column,
    dimension: int,
    counts: tuple[int, int],
    seed: int,
) -> Projection | None:
    """Fit a 2-D PCA on ``original`` rows in Spark and project samples of both frames.

    Parameters
    ----------
    original, synthetic : DataFrame
        Rows of the grown classes: the input's, and the synthetic ones.
    values : Column
        The features as an ``array<double>`` expression valid on both frames.
    dimension : int
        Number of features.
    counts : (int, int)
        Rows in ``original`` and ``synthetic`` (to choose the sample fractions).
    seed : int
        Seed of the samples.

    Returns
    -------
    Projection or None
        None when there are more than ``PLOT_MAX_DIMENSION`` features.

    """
    if dimension > PLOT_MAX_DIMENSION:
        return None
    x = original.select(values.alias("x"))
    pairs = [(i, j) for i in range(dimension) for j in range(i, dimension)]
    moments = x.agg(
        F.count(F.lit(1)).alias("n"),
        *[F.avg(F.col("x")[i]).alias(f"m{i}") for i in range(dimension)],
        *[F.avg(F.col("x")[i] * F.col("x")[j]).alias(f"s{i}_{j}") for i, j in pairs],
    ).collect()[0]
    mean = np.array([moments[f"m{i}"] for i in range(dimension)], dtype=np.float64)
    second = np.zeros((dimension, dimension))
    for i, j in pairs:
        second[i, j] = second[j, i] = moments[f"s{i}_{j}"]
    covariance = second - np.outer(mean, mean)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1]
    leading = eigenvectors[:, order[:2]]
    if leading.shape[1] < 2:
        leading = np.hstack([leading, np.zeros((dimension, 2 - leading.shape[1]))])
    total = float(np.clip(eigenvalues, 0, None).sum()) or 1.0
    top = [float(max(eigenvalues[i], 0.0)) / total for i in order[:2]] + [0.0, 0.0]

    def project(rows: DataFrame, count: int) -> np.ndarray:
        sample = _sample(rows, values, count, seed)
        if sample.size == 0:
            return np.zeros((0, 2))
        return np.asarray((sample - mean) @ leading)

    return Projection(project(original, counts[0]), project(synthetic, counts[1]), (top[0], top[1]))


def write_plot(
    path: Path,
    before: Mapping[Any, int],
    after: Mapping[Any, int],
    projection: Projection | None,
) -> Path:
    """Draw the class counts and the PCA projection into a PNG at ``path``.

    Raises
    ------
    ImportError
        matplotlib is not installed (``pip install 'spark-smote[plot]'``).

    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, (counts_axes, pca_axes) = plt.subplots(1, 2, figsize=(12, 5), dpi=100)
    labels: Sequence[Any] = list(after)
    positions = np.arange(len(labels))
    width = 0.38
    counts_axes.bar(positions - width / 2, [before[c] for c in labels], width, label="before")
    counts_axes.bar(positions + width / 2, [after[c] for c in labels], width, label="after")
    counts_axes.set_xticks(positions, [str(c) for c in labels])
    counts_axes.set_xlabel("class")
    counts_axes.set_ylabel("rows")
    counts_axes.set_title("Rows per class before and after SMOTE")
    counts_axes.set_ylim(0, max([*after.values(), 1]) * 1.15)
    counts_axes.legend(loc="upper center", ncols=2)
    if projection is None:
        pca_axes.text(0.5, 0.5, "PCA skipped (too many features)", ha="center")
        pca_axes.set_axis_off()
    else:
        pca_axes.scatter(
            projection.original[:, 0],
            projection.original[:, 1],
            s=10,
            alpha=0.6,
            label=f"original ({len(projection.original)} sampled)",
        )
        pca_axes.scatter(
            projection.synthetic[:, 0],
            projection.synthetic[:, 1],
            s=10,
            alpha=0.6,
            marker="x",
            label=f"synthetic ({len(projection.synthetic)} sampled)",
        )
        first, second = projection.explained
        pca_axes.set_xlabel(f"PC1 ({first:.0%} of variance)")
        pca_axes.set_ylabel(f"PC2 ({second:.0%} of variance)")
        pca_axes.set_title("Grown classes: original vs synthetic rows (PCA)")
        pca_axes.legend()
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path
