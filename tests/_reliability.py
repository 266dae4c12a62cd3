"""Helpers of the reliability tests: a small dataset, CLI runs in subprocesses, output
comparison and input checksums. Everything here reads and writes files with pyarrow, so
the tests compare outputs without touching the shared Spark session.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import socket
import subprocess
import sys
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

ROOT = Path(__file__).resolve().parent.parent
TEST_CONFIG = str(ROOT / "conf" / "test.toml")
# Upper bound of one CLI run in a subprocess (a hang must fail, not block CI forever).
JOB_TIMEOUT = 600

# The bundled example data set (569 rows, 'benign' and 'malignant') and the options of
# its whole-job runs: one class to grow, an id column, a named synthetic-row flag.
WDBC = ROOT / "jobs" / "data" / "wdbc.parquet"
WDBC_ARGS = ("--label-col", "diagnosis", "--id-col", "id", "--seed", "42")
WDBC_ARGS += ("--synthetic-col", "is_synthetic")

# The reference job: every test that compares outputs runs these arguments.
REFERENCE_ARGS = ("--label-col", "label", "--k-neighbors", "3", "--seed", "20261124")


def spark_test_settings() -> tuple[str, str, dict[str, str]]:
    """(master, app name, Spark settings) of the test sessions, from conf/test.toml."""
    data = tomllib.loads(Path(TEST_CONFIG).read_text(encoding="utf-8"))
    job = data.get("job", {})
    return job["master"], job["app_name"], {k: str(v) for k, v in data["spark"].items()}


# conf/test.toml's JIT option for cold, short-lived JVMs (the jobs tests start in
# subprocesses). The test sessions themselves live for a whole pass, where the JVM's
# default tiered compilation (C1, then C2 for hot code) is faster: 174 s against
# 194-202 s over five in-session test modules, while cold jobs were slower with it.
COLD_JVM_OPTION = "-XX:TieredStopAtLevel=1"


def session_test_settings() -> tuple[str, str, dict[str, str]]:
    """:func:`spark_test_settings` for a session that lives for a whole test pass."""
    master, app_name, settings = spark_test_settings()
    for key in ("spark.driver.extraJavaOptions", "spark.executor.extraJavaOptions"):
        if key in settings:
            settings[key] = " ".join(o for o in settings[key].split() if o != COLD_JVM_OPTION)
    return master, app_name, settings


# The test JVMs' options (conf/test.toml), for JVMs a session's settings do not reach:
# spark-submit's driver, a standalone cluster's daemons, a script's own session.
TEST_JAVA_OPTIONS = spark_test_settings()[2].get("spark.driver.extraJavaOptions", "")


def write_reference_input(folder: Path) -> Path:
    """Write a small three-class Parquet dataset as two files; return its folder.

    Double and integer features, a string column that is not a feature, classes of 150,
    40 and 12 rows (two classes to grow, one by more than its size).
    """
    rng = np.random.default_rng(5)
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {"a": 150, "b": 40, "c": 12}
    labels = np.concatenate([np.full(n, label) for label, n in sizes.items()])
    n = len(labels)
    table = pa.table(
        {
            "id": pa.array(np.arange(n, dtype=np.int64)),
            "x1": pa.array(rng.normal(size=n)),
            "x2": pa.array(rng.normal(loc=3.0, scale=2.0, size=n)),
            "count": pa.array(rng.integers(0, 100, size=n, dtype=np.int32)),
            "note": pa.array([f"row {i}" for i in range(n)]),
            "label": pa.array(labels.tolist(), pa.string()),
        }
    )
    order = rng.permutation(n)
    half = n // 2
    pq.write_table(table.take(order[:half]), folder / "part-0.parquet")
    pq.write_table(table.take(order[half:]), folder / "part-1.parquet")
    return folder


def free_loopback_port() -> int:
    """A TCP port free on 127.0.0.1 at the time of asking."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


INHERITED_CONNECT_STATE = (
    "SPARK_CONNECT_MODE_ENABLED",
    "SPARK_LOCAL_REMOTE",
    "SPARK_REMOTE",
    "SPARK_CONNECT_AUTHENTICATE_TOKEN",
)


def job_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a CLI subprocess: this interpreter for the workers, no faults.

    Also without the Spark Connect state of the Connect pass's own session (mode flag,
    token), which would otherwise steer the subprocess's session.
    """
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("SPARK_SMOTE_") and k not in INHERITED_CONNECT_STATE
    }
    env["PYSPARK_PYTHON"] = sys.executable
    env["PYSPARK_DRIVER_PYTHON"] = sys.executable
    env.update(extra or {})
    return env


def cli_args(input_path: Path | str, output_path: Path | str, *args: str) -> list[str]:
    """``--input ... --output ... --config conf/test.toml args``: a command line's options."""
    paths = ["--input", str(input_path), "--output", str(output_path)]
    return [*paths, "--config", TEST_CONFIG, *args]


def cli_command(input_path: Path | str, output_path: Path | str, *args: str) -> list[str]:
    """``python -m spark_smote --input ... --output ... --config conf/test.toml args``."""
    return [sys.executable, "-m", "spark_smote", *cli_args(input_path, output_path, *args)]


def run_cli(
    input_path: Path | str,
    output_path: Path | str,
    *args: str,
    env: Mapping[str, str] | None = None,
) -> subprocess.CompletedProcess[str]:
    """Run the command line in a subprocess (its own session) and return the result."""
    return run_command(cli_command(input_path, output_path, *args), env=env)


def run_command(
    command: list[str],
    *,
    env: Mapping[str, str] | None = None,
    timeout: int = JOB_TIMEOUT,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[str]:
    """Run ``command`` from ``cwd`` (the repository root) with :func:`job_env`; never
    raises on exit."""
    return subprocess.run(
        command,
        cwd=cwd,
        env=job_env(env),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def run_cli_batch(
    folder: Path, cases: Sequence[Mapping[str, Any]], *, timeout: int = JOB_TIMEOUT
) -> dict[str, dict[str, Any]]:
    """Run several command lines in one subprocess (``tests/_cli_batch.py``).

    Parameters
    ----------
    folder : Path
        Working folder of the subprocess; the case and result files are written here.
    cases : sequence of mappings
        ``{"name": ..., "argv": [...]}`` per command line, run in order in one Spark
        process (a table one case writes is there for the next).
    timeout : int
        Upper bound of the whole batch, in seconds.

    Returns
    -------
    dict
        Per case name: ``exit`` (status), ``stdout`` and ``stderr``.

    """
    (folder / "cases.json").write_text(json.dumps(list(cases)), encoding="utf-8")
    batch = [sys.executable, str(ROOT / "tests" / "_cli_batch.py"), "cases.json", "results.json"]
    done = run_command(batch, cwd=folder, timeout=timeout)
    assert done.returncode == 0, describe(done)
    results: dict[str, dict[str, Any]] = json.loads((folder / "results.json").read_text())
    return results


@dataclass(frozen=True)
class BatchGroup:
    """One test module's command lines in the session's shared batch process.

    ``build`` writes the module's inputs into the folder it is given and returns its
    cases (as :func:`run_cli_batch` takes them). Groups run by ``order``: the first case
    that reaches Spark creates the batch's session, so its static settings (warehouse
    folder, JVM options) hold for every later case.
    """

    module: str
    order: int
    build: Callable[[Path], list[dict[str, Any]]]


# Test modules whose command lines share one batch process (the ``cli_batch`` fixture of
# tests/conftest.py): one JVM start and session setup for all of them.
BATCH_GROUPS: dict[str, BatchGroup] = {}


def batch_cases(
    order: int,
) -> Callable[[Callable[[Path], list[dict[str, Any]]]], Callable[[Path], list[dict[str, Any]]]]:
    """Register a test module's builder of command lines for the shared batch."""

    def register(
        build: Callable[[Path], list[dict[str, Any]]],
    ) -> Callable[[Path], list[dict[str, Any]]]:
        BATCH_GROUPS[build.__module__] = BatchGroup(build.__module__, order, build)
        return build

    return register


def run_batch_groups(
    base: Path, modules: set[str]
) -> dict[str, tuple[Path, dict[str, dict[str, Any]]]]:
    """Run the registered command lines of ``modules`` in one batch process.

    Each module's cases are built in their own folder under ``base`` and named
    ``module:case`` in the batch. Returns, per module, its folder and its results by
    its own case names.
    """
    groups = sorted((g for m, g in BATCH_GROUPS.items() if m in modules), key=lambda g: g.order)
    cases, folders = [], {}
    for group in groups:
        folder = base / group.module.rsplit(".", 1)[-1]
        folder.mkdir()
        folders[group.module] = folder
        for case in group.build(folder):
            cases.append({**case, "name": f"{group.module}:{case['name']}"})
    # Each module's batch had JOB_TIMEOUT to itself when it ran alone.
    found = run_cli_batch(base, cases, timeout=JOB_TIMEOUT * max(len(groups), 1))
    results: dict[str, tuple[Path, dict[str, dict[str, Any]]]] = {}
    for group in groups:
        prefix = f"{group.module}:"
        own = {n[len(prefix) :]: r for n, r in found.items() if n.startswith(prefix)}
        results[group.module] = (folders[group.module], own)
    return results


def as_process(argv: Sequence[str], result: Mapping[str, Any]) -> subprocess.CompletedProcess[str]:
    """A batch case's result in the shape of a finished ``python -m spark_smote`` process."""
    return subprocess.CompletedProcess(
        [sys.executable, "-m", "spark_smote", *argv],
        returncode=result["exit"],
        stdout=result["stdout"],
        stderr=result["stderr"],
    )


def describe(result: subprocess.CompletedProcess[str]) -> str:
    """The tail of a subprocess's output, for assertion messages."""
    out, err = result.stdout[-3000:], result.stderr[-6000:]
    return f"exit {result.returncode}\nstdout:\n{out}\nstderr:\n{err}"


def output_rows(path: Path | str) -> list[tuple[Any, ...]]:
    """The rows of a Parquet output folder as a sorted list (a multiset, bit for bit).

    Sorting by ``repr`` keeps floats exact (repr round-trips) and tolerates nulls.
    """
    table = pq.read_table(str(path))
    rows = [tuple(row.values()) for row in table.to_pylist()]
    return sorted(rows, key=repr)


def output_columns(path: Path | str) -> list[str]:
    """Column names of a Parquet output folder."""
    return list(pq.read_schema(next(Path(path).glob("*.parquet"))).names)


def tree_digest(path: Path) -> dict[str, str]:
    """sha256 of every file under ``path`` (hidden files included), by relative path."""
    digests = {}
    for file in sorted(p for p in path.rglob("*") if p.is_file()):
        digests[str(file.relative_to(path))] = hashlib.sha256(file.read_bytes()).hexdigest()
    return digests


def staging_leftovers(folder: Path, name: str) -> list[Path]:
    """Hidden staging/retired folders of an output called ``name`` in ``folder``."""
    return sorted(folder.glob(f".{name}.spark-smote-*"))


@functools.cache
def reference_run(base: str) -> tuple[Path, Path]:
    """Input and clean local-mode output of the reference job (computed once per process).

    Parameters
    ----------
    base : str
        A folder that lives for the whole test session (``tmp_path_factory``).

    """
    folder = Path(base)
    source = write_reference_input(folder / "input")
    target = folder / "reference-output"
    result = run_cli(source, target, *REFERENCE_ARGS, "--master", "local[2]")
    assert result.returncode == 0, describe(result)
    return source, target


def assert_same_output(actual: Path, expected: Path) -> None:
    """Same columns and the same multiset of rows, bit for bit."""
    assert output_columns(actual) == output_columns(expected)
    got, want = output_rows(actual), output_rows(expected)
    assert len(got) == len(want)
    assert got == want


def class_counts(path: Path | str, label: str = "label") -> dict[Any, int]:
    """Rows per label of a Parquet output folder."""
    labels = pq.read_table(str(path), columns=[label]).column(label).to_pylist()
    return {value: labels.count(value) for value in sorted(set(labels), key=repr)}


def has_partial_output(path: Path) -> bool:
    """Whether ``path`` exists or hidden staging folders of it are left beside it."""
    return path.exists() or bool(staging_leftovers(path.parent, path.name))


def reference_args(*extra: str) -> Sequence[str]:
    """The reference job's arguments plus ``extra``."""
    return (*REFERENCE_ARGS, *extra)
