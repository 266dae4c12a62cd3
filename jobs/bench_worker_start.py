"""What the custom Python worker daemon (:mod:`spark_smote._daemon`) buys per session.

    python jobs/bench_worker_start.py [--rounds 6]

Each round runs the ``spark-smote`` command twice on the bundled WDBC example
(``conf/local.toml``, seed 1), once as configured and once with
``SPARK_SMOTE_DISABLE=python-daemon`` (pyspark's own daemon, whose workers import
pyspark's worker modules from the bundled zip, uncompiled), in alternating order. The
input is small on purpose: the daemon changes what each Python worker costs to start,
once per worker process, not per row, so a small job shows its saving in seconds; a
large job pays the same seconds among many more. Printed: each run's wall time
(process start to exit, session start included) and the medians; then, for the
mechanism alone, the seconds a fresh Python takes to import pyspark's daemon (which
imports the worker and what it forks with) from the bundled zip and from the installed
package, median of five each.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
EXAMPLE = ROOT / "jobs" / "data" / "wdbc.parquet"


def timed_run(output: Path, disable: bool) -> float:
    """Wall seconds of one ``spark-smote`` run on the example."""
    env = dict(os.environ)
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    if disable:
        env["SPARK_SMOTE_DISABLE"] = "python-daemon"
    else:
        env.pop("SPARK_SMOTE_DISABLE", None)
    command = [
        sys.executable,
        "-m",
        "spark_smote",
        "--input",
        str(EXAMPLE),
        "--output",
        str(output),
        "--label-col",
        "diagnosis",
        "--id-col",
        "id",
        "--seed",
        "1",
        "--config",
        str(ROOT / "conf" / "local.toml"),
    ]
    started = time.monotonic()
    subprocess.run(command, env=env, cwd=ROOT, check=True, capture_output=True)
    return time.monotonic() - started


IMPORT_DAEMON = """
import sys, time
if sys.argv[1] == "zip":
    import pyspark
    from pathlib import Path
    sys.path.insert(0, str(Path(pyspark.__file__).parent / "python" / "lib" / "pyspark.zip"))
    for name in [m for m in sys.modules if m == "pyspark" or m.startswith("pyspark.")]:
        del sys.modules[name]
started = time.monotonic()
import pyspark.daemon
print(time.monotonic() - started)
"""


def import_seconds(source: str) -> float:
    """Median seconds of importing ``pyspark.daemon`` in a fresh Python from ``source``."""
    runs = [
        float(
            subprocess.run(
                [sys.executable, "-c", IMPORT_DAEMON, source],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
        )
        for _ in range(5)
    ]
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    times: dict[str, list[float]] = {"custom daemon": [], "pyspark daemon": []}
    with tempfile.TemporaryDirectory() as folder:
        for round_ in range(args.rounds):
            order = [False, True] if round_ % 2 == 0 else [True, False]
            for disable in order:
                name = "pyspark daemon" if disable else "custom daemon"
                seconds = timed_run(Path(folder) / f"out-{round_}-{name[0]}", disable)
                times[name].append(seconds)
                print(f"round {round_ + 1}: {name} {seconds:.1f} s", flush=True)
    medians = {name: statistics.median(values) for name, values in times.items()}
    for name, median in medians.items():
        print(f"{name}: median {median:.2f} s over {len(times[name])} runs")
    saved = medians["pyspark daemon"] - medians["custom daemon"]
    print(f"saved per run by the custom daemon: {saved:.2f} s (median difference)")
    zipped, installed = import_seconds("zip"), import_seconds("installed")
    print(f"import pyspark.daemon: {zipped:.2f} s from the zip, {installed:.2f} s installed")


if __name__ == "__main__":
    main()
