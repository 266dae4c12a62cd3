"""The run report: _smote_report.json, the PNG, the phases printed as they run."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pyspark.sql import functions as F

from spark_smote._borderline import BorderlineSMOTEReport
from spark_smote._report import (
    PhaseClock,
    build_report,
    pca_projection,
    sampler_fields,
    summary_line,
)
from spark_smote._search import CrossReport
from spark_smote._smote import SMOTEReport
from tests._reliability import as_process, batch_cases

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "conf" / "test.toml"


def _lsh_argv(folder: Path) -> list[str]:
    return [
        *["--input", str(folder / "input.parquet")],
        *["--output", str(folder / "out"), "--config", str(TEST_CONFIG), "--seed", "3"],
        *["--k-neighbors", "3", "--neighbor-search", "lsh", "--plot"],
        *["--report-recall", "--recall-sample-size", "10"],
    ]


@batch_cases(order=1)
def report_cases(folder: Path) -> list[dict[str, Any]]:
    """One LSH job with a plot and measured recall, for the session's batch process."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    rows = [(float(i % 9), float(i // 9), 0) for i in range(60)]
    rows += [(40.0 + i % 4, 5.0 + i // 4 + 0.1 * (i % 3), 1) for i in range(20)]
    x, y, label = zip(*rows, strict=True)
    table = pa.table({"x": pa.array(x), "y": pa.array(y), "label": pa.array(label, pa.int32())})
    (folder / "input.parquet").mkdir()
    pq.write_table(table, folder / "input.parquet" / "part-0.parquet")
    return [{"name": "lsh", "argv": _lsh_argv(folder)}]


@pytest.fixture(scope="module")
def lsh_run(cli_batch: dict[str, Any]) -> tuple[Path, str]:
    pytest.importorskip("matplotlib")
    folder, results = cli_batch[__name__]
    output = folder / "out"
    result = as_process(_lsh_argv(folder), results["lsh"])
    assert result.returncode == 0, result.stderr[-3000:]
    return output, result.stdout


@pytest.mark.classic_only
def test_report_json_holds_parameters_counts_method_recall_phases_versions(
    lsh_run: tuple[Path, str],
) -> None:
    output, _ = lsh_run
    report = json.loads((output / "_smote_report.json").read_text())
    assert report["seed"] == 3
    assert report["parameters"]["k_neighbors"] == 3
    assert report["parameters"]["neighbor_search"] == "lsh"
    assert report["class_counts_before"] == {"0": 60, "1": 20}
    assert report["class_counts_after"] == {"0": 60, "1": 60}
    assert report["neighbor_method"] == {"1": "lsh"}
    assert 0.0 <= report["neighbor_parameters"]["1"]["estimated_recall"] <= 1.0
    assert 0.0 <= report["recall"]["recall"] <= 1.0
    assert {"validation", "keys", "neighbours, synthesis and write"} <= set(report["phase_seconds"])
    assert report["versions"]["spark"] and report["versions"]["spark_smote"]


@pytest.mark.classic_only
def test_plot_is_a_png_beside_the_data(lsh_run: tuple[Path, str]) -> None:
    output, _ = lsh_run
    assert (output / "_smote_report.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.classic_only
def test_cli_prints_the_phases_as_they_run(lsh_run: tuple[Path, str]) -> None:
    _, stdout = lsh_run
    phases = [line for line in stdout.splitlines() if line.startswith("spark-smote: phase ")]
    assert [p.split(":")[1].strip() for p in phases][:3] == [
        "phase read input",
        "phase validation",
        "phase keys",
    ]
    assert "spark-smote: report " in stdout


def test_phase_clock_accumulates_named_phases() -> None:
    clock = PhaseClock(echo=False)
    clock.done("a", 1.5)
    clock.done("b", 2.0)
    clock.done("a", 0.5)
    assert clock.seconds == {"a": 2.0, "b": 2.0}


def test_report_keys_are_json_ready() -> None:
    smote_report = SMOTEReport(
        seed=1,
        seed_was_given=True,
        class_counts_before={True: 5, False: 9},
        synthetic_counts={True: 4},
        neighbor_parameters={True: {"width": np.float64(1.5)}},
    )
    document = build_report(
        parameters={"label_col": "y"},
        smote_report=smote_report,
        destination={"output": "o"},
        phase_seconds={"validation": 1.0},
    )
    text = json.dumps(document)
    assert json.loads(text)["class_counts_after"] == {"True": 9, "False": 9}


def test_report_carries_the_samplers_own_fields() -> None:
    search = CrossReport("lsh", "asked", 10, 45, 345, {"tables": 7, "curve": [0.9, 1.0]}, 0.99)
    report = BorderlineSMOTEReport(
        seed=1,
        seed_was_given=True,
        class_counts_before={0: 300, 1: 45},
        synthetic_counts={1: 255},
        cross_search=asdict(search),
        classification_agreement=0.995,
        agreement_sample=45,
        danger_counts={1: 30},
        noise_counts={1: 2},
    )
    document = build_report(
        parameters={}, smote_report=report, destination={}, phase_seconds={"keys": 1.0}
    )
    own = json.loads(json.dumps(document))["sampler_report"]
    assert list(own)[:3] == ["danger_counts", "noise_counts", "skipped_classes"]
    assert own["danger_counts"] == {"1": 30}
    assert own["cross_search"]["parameters"] == {"tables": 7, "curve": [0.9, 1.0]}
    assert own["classification_agreement"] == 0.995
    line = summary_line(sampler_fields(report))
    assert line.startswith("danger_counts={1: 30}, noise_counts={1: 2}, skipped_classes={}, ")
    assert "parameters: {tables: 7}" in line  # lists are left to the JSON report
    assert "classification_agreement=0.995" in line


def test_any_dataclass_report_plugs_in() -> None:
    @dataclass
    class CleanerLikeReport:
        seed: int
        removed_counts: dict[Any, int] = field(default_factory=dict)
        search: CrossReport | None = None
        kept_share: float = 0.0

    report = CleanerLikeReport(3, {0: 12}, CrossReport("exact", "auto", 3, 9, 9), 0.5)
    own = sampler_fields(report)
    # seed and removed_counts are written at the top level of the report already
    assert list(own) == ["search", "kept_share"]
    assert own["search"]["method"] == "exact"  # a nested dataclass becomes a dict
    assert summary_line(own).startswith("search={method: 'exact'")
    assert summary_line(own).endswith("kept_share=0.5")
    assert sampler_fields(SMOTEReport(1, True, {0: 3}, {})) == {}


@pytest.mark.e2e
def test_pca_in_spark_matches_numpy(spark: Any) -> None:
    rng = np.random.default_rng(0)
    points = rng.normal(size=(200, 3)) @ np.diag([5.0, 1.0, 0.2])
    df = spark.createDataFrame([(p.tolist(),) for p in points], "x array<double>")
    projection = pca_projection(df, df, F.col("x"), 3, (200, 200), seed=1)
    assert projection is not None
    variances = np.linalg.eigvalsh(np.cov(points.T, bias=True))[::-1]
    assert projection.explained[0] == pytest.approx(variances[0] / variances.sum(), rel=1e-6)
    assert len(projection.original) == 200
    assert np.var(projection.original[:, 0]) == pytest.approx(variances[0], rel=1e-6)
