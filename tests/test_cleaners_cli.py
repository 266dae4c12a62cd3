"""``spark-smote --sampler tomek|enn|smote-tomek|smote-enn|random`` run end to end.

All five command lines run in one subprocess (``_cli_batch.py``); each must exit 0,
print its counts (rows removed for the cleaners) and write the counts it printed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from tests._reliability import JOB_TIMEOUT, job_env

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = ROOT / "conf" / "test.toml"

pytestmark = [pytest.mark.e2e, pytest.mark.classic_only]

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
            "argv": [
                "--input",
                str(base / "in.parquet"),
                "--output",
                str(base / name),
                "--label-col",
                "label",
                "--id-col",
                "id",
                "--seed",
                "7",
                "--config",
                str(TEST_CONFIG),
                "--sampler",
                name,
                *extra,
            ],
        }
        for name, extra in CASES.items()
    ]
    (base / "cases.json").write_text(json.dumps(cases))
    done = subprocess.run(
        [sys.executable, str(ROOT / "tests" / "_cli_batch.py"), "cases.json", "results.json"],
        cwd=base,
        env=job_env(),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-5000:]
    found: dict[str, Any] = json.loads((base / "results.json").read_text())
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
