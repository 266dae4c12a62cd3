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
        "features",
        "columns_left_null",
        "removed_counts",
        "lsh_agreement",
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


def exact_search_only(neighbor_method: Mapping[Any, str]) -> bool:
    """Whether every grown class was searched exactly (recall 1 by construction)."""
    return all(method == "exact" for method in neighbor_method.values())


def build_report(
    *,
    parameters: Mapping[str, Any],
    smote_report: Any,
    destination: Mapping[str, Any],
    phase_seconds: Mapping[str, float],
    recall: Any = None,
    spark_version: str | None = None,
    plot: str | None = None,
    recall_requested: bool = False,
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
    recall_requested : bool, default False
        Whether the run asked for recall; when every class was searched exactly the
        report says recall is 1 by construction (nothing was measured).

    """
    recall_part: dict[str, Any] | None = None
    if recall is not None:
        recall_part = {
            "k": recall.k,
            "recall": recall.recall,
            "per_class": recall.per_class,
            "sample_sizes": recall.sample_sizes,
            "measured": True,
        }
    elif recall_requested and exact_search_only(smote_report.neighbor_method):
        recall_part = {
            "recall": 1.0,
            "measured": False,
            "note": "exact neighbour search for every class: recall is 1 by construction",
        }
    document = {
        "parameters": dict(parameters),
        "seed": smote_report.seed,
        "seed_was_given": smote_report.seed_was_given,
        "destination": dict(destination),
        # Samplers that add no rows (the cleaners) report neither.
        "features": list(getattr(smote_report, "features", None) or []),
        "columns_left_null": list(getattr(smote_report, "columns_left_null", None) or []),
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
    original_labels: tuple[Any, ...] = ()
    synthetic_labels: tuple[Any, ...] = ()


def _sample(
    rows: DataFrame, values: Column, total: int, seed: int, label: Column | None
) -> tuple[np.ndarray, tuple[Any, ...]]:
    """A seeded sample of at most about PLOT_SAMPLE_ROWS feature rows, and their labels."""
    fraction = min(1.0, PLOT_SAMPLE_ROWS / max(total, 1))
    draw = F.shiftrightunsigned(F.xxhash64(F.lit(seed), values), 11).cast("double") * F.lit(
        2.0**-53
    )
    label_value = label if label is not None else F.lit(None)
    picked = rows.select(values.alias("v"), label_value.alias("c")).where(draw < F.lit(fraction))
    collected = picked.limit(PLOT_SAMPLE_ROWS).collect()
    if not collected:
        return np.zeros((0, 0)), ()
    matrix = np.array([row["v"] for row in collected], dtype=np.float64)
    return matrix, tuple(row["c"] for row in collected)


def pca_projection(
    original: DataFrame,
    synthetic: DataFrame,
    values: Column,
    dimension: int,
    counts: tuple[int, int],
    seed: int,
    label: Column | None = None,
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
    label : Column, optional
        The class label, collected with the samples to colour each class.

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

    def project(rows: DataFrame, count: int) -> tuple[np.ndarray, tuple[Any, ...]]:
        sample, labels = _sample(rows, values, count, seed, label)
        if sample.size == 0:
            return np.zeros((0, 2)), ()
        return np.asarray((sample - mean) @ leading), labels

    original_points, original_labels = project(original, counts[0])
    synthetic_points, synthetic_labels = project(synthetic, counts[1])
    return Projection(
        original_points,
        synthetic_points,
        (top[0], top[1]),
        original_labels,
        synthetic_labels,
    )


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
    for offset, name, counts in ((-width / 2, "before", before), (width / 2, "after", after)):
        bars = counts_axes.bar(positions + offset, [counts[c] for c in labels], width, label=name)
        counts_axes.bar_label(bars, fontsize=8)
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
        _scatter_by_class(pca_axes, projection)
        first, second = projection.explained
        pca_axes.set_xlabel(f"PC1 ({first:.0%} of variance)")
        pca_axes.set_ylabel(f"PC2 ({second:.0%} of variance)")
        pca_axes.set_title("Grown classes: original (o) and synthetic (x) rows, PCA")
        pca_axes.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path)
    plt.close(figure)
    return path


def _scatter_by_class(axes: Any, projection: Projection) -> None:
    """One colour per class: its original rows as dots, its synthetic rows as crosses."""
    groups = sorted(
        set(projection.original_labels) | set(projection.synthetic_labels), key=str
    ) or [None]
    for index, group in enumerate(groups):
        colour = f"C{index % 10}"  # matplotlib's default cycle of ten colours
        for points, labels, marker, kind in (
            (projection.original, projection.original_labels, "o", "original"),
            (projection.synthetic, projection.synthetic_labels, "x", "synthetic"),
        ):
            if len(labels) == len(points):
                chosen = np.array([label == group for label in labels], dtype=bool)
            else:
                chosen = np.ones(len(points), dtype=bool)
            if not chosen.any():
                continue
            name = f"{kind}" if group is None else f"class {group!s}, {kind}"
            axes.scatter(
                points[chosen, 0],
                points[chosen, 1],
                s=10,
                alpha=0.6,
                marker=marker,
                color=colour,
                label=f"{name} ({int(chosen.sum())} sampled)",
            )
