"""``spark-smote --sampler tomek|enn|smote-tomek|smote-enn|random`` run end to end.

All five command lines run in one subprocess (``_cli_batch.py``); each must exit 0,
print its counts (rows removed for the cleaners) and write the counts it printed.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._reliability import cli_args, run_cli_batch

pytestmark = [pytest.mark.e2e, pytest.mark.classic_only]

COMMON = ("--label-col", "label", "--id-col", "id", "--seed", "7")
CASES = {
    "tomek": ["--sampling-strategy", "all"],
    "enn": ["--kind-sel", "mode", "--enn-neighbors", "5"],
    "smote-tomek": ["--k-neighbors", "3"],
    "smote-enn": ["--k-neighbors", "3", "--kind-sel", "mode"],
    "random": ["--shrinkage", "0.5", "--synthetic-col", "added"],
}


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    base = tmp_path_factory.mktemp("family-cli")
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
    cases = [
        {
            "name": name,
            "argv": cli_args(base / "in.parquet", base / name, *COMMON, "--sampler", name, *extra),
        }
        for name, extra in CASES.items()
    ]
    found: dict[str, Any] = run_cli_batch(base, cases)
    for name in CASES:
        found[name]["rows"] = pq.read_table(base / name).to_pylist()
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
