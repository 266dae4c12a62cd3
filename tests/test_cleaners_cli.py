"""``spark-smote --sampler tomek|enn|smote-tomek|smote-enn|random`` run end to end.

All five command lines run in the session's batch subprocess (``cli_batch``); each must exit 0,
print its counts (rows removed for the cleaners) and write the counts it printed. SMOTEENN
searches by LSH and prints its agreement with exact search with the rows it rests on.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._reliability import batch_cases, cli_args

pytestmark = [pytest.mark.e2e, pytest.mark.classic_only]

COMMON = ("--label-col", "label", "--id-col", "id", "--seed", "7")
CASES = {
    "tomek": ["--sampling-strategy", "all"],
    "enn": ["--kind-sel", "mode", "--enn-neighbors", "5"],
    "smote-tomek": ["--k-neighbors", "3"],
    "smote-enn": ["--k-neighbors", "3", "--kind-sel", "mode", "--neighbor-search", "lsh"],
    "random": ["--shrinkage", "0.5", "--synthetic-col", "added"],
}


@batch_cases(order=1)
def family_cases(base: Path) -> list[dict[str, Any]]:
    rng = np.random.default_rng(5)
    labels = (rng.random(300) < 0.25).astype(np.int64)
    table = pa.table(
        {
            "id": np.arange(300),
            "a": rng.normal(size=300) + labels,
            "b": rng.normal(size=300) - labels,
            "label": labels,
        }
    )
    pq.write_table(table, base / "in.parquet")
    return [
        {
            "name": name,
            "argv": cli_args(base / "in.parquet", base / name, *COMMON, "--sampler", name, *extra),
        }
        for name, extra in CASES.items()
    ]


@pytest.fixture(scope="module")
def results(cli_batch: dict[str, Any]) -> dict[str, Any]:
    base, batch = cli_batch[__name__]
    found: dict[str, Any] = {name: dict(result) for name, result in batch.items()}
    for name in CASES:
        found[name]["rows"] = pq.read_table(base / name).to_pylist()
        found[name]["report"] = json.loads((base / name / "_smote_report.json").read_text())
    return found


@pytest.mark.parametrize("name", list(CASES))
def test_each_sampler_runs_and_writes_what_it_printed(results, name) -> None:
    result = results[name]
    assert result["exit"] == 0, result["stderr"][-3000:]
    lines = result["stdout"].splitlines()
    after = next(line for line in lines if "classes after" in line)
    counts = Counter(row["label"] for row in result["rows"])
    assert after.endswith(", ".join(f"{c!r}: {n}" for c, n in sorted(counts.items())))
    if name in ("tomek", "enn", "smote-tomek", "smote-enn"):
        assert any("rows removed" in line for line in lines)
    if name == "random":
        assert counts[0] == counts[1]


def test_an_lsh_cleaner_prints_its_agreement_and_the_rows_it_rests_on(results) -> None:
    result = results["smote-enn"]
    assert result["exit"] == 0, result["stderr"][-3000:]
    cleaning = result["report"]["sampler_report"]["cleaning"]
    line = next(
        line for line in result["stdout"].splitlines() if "agreement with exact search" in line
    )
    sample, removed = cleaning["agreement_sample"], cleaning["agreement_removed_exact"]
    assert sample > 0
    if removed:
        printed = re.search(r": ([0-9.]+) \((\d+) of the (\d+) rows .* among (\d+) sampled\)", line)
        assert printed, line
        agreement, both, exact, among = printed.groups()
        assert (int(exact), int(among)) == (removed, sample)
        assert float(agreement) == pytest.approx(cleaning["lsh_agreement"], abs=1e-4)
        assert int(both) == cleaning["agreement_removed_both"]
        assert cleaning["lsh_agreement"] == pytest.approx(int(both) / removed)
    else:
        assert f"removes none of {sample} sampled rows" in line
