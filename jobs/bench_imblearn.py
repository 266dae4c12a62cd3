"""imbalanced-learn's samplers as a benchmark contender: pyarrow read, fit_resample, write.

    python jobs/bench_imblearn.py SAMPLER INPUT OUTPUT

Run by jobs/benchmark.py in its own process, timed from process start. SAMPLER is one of
the names of ``spark-smote --sampler`` (``SAMPLERS``); each maps to imbalanced-learn's
class with its own defaults, plus ``random_state=1`` where the class takes one. All
columns but the label are the features; the output is one Parquet file with the same
columns.
"""

from __future__ import annotations

import argparse
from typing import Any

SEED = 1
# spark-smote's --sampler name -> (imbalanced-learn module, class, keyword arguments).
SAMPLERS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "smote": ("imblearn.over_sampling", "SMOTE", {}),
    "borderline-1": ("imblearn.over_sampling", "BorderlineSMOTE", {"kind": "borderline-1"}),
    "borderline-2": ("imblearn.over_sampling", "BorderlineSMOTE", {"kind": "borderline-2"}),
    "adasyn": ("imblearn.over_sampling", "ADASYN", {}),
    "random": ("imblearn.over_sampling", "RandomOverSampler", {}),
    "tomek": ("imblearn.under_sampling", "TomekLinks", {}),
    "enn": ("imblearn.under_sampling", "EditedNearestNeighbours", {}),
    "smote-tomek": ("imblearn.combine", "SMOTETomek", {}),
    "smote-enn": ("imblearn.combine", "SMOTEENN", {}),
}


def make_sampler(name: str) -> Any:
    """imbalanced-learn's sampler for ``name``, seeded when it draws at random."""
    import importlib

    module, class_name, arguments = SAMPLERS[name]
    sampler_class = getattr(importlib.import_module(module), class_name)
    sampler = sampler_class(**arguments)
    if "random_state" in sampler.get_params(deep=False):
        sampler.set_params(random_state=SEED)
    return sampler


def run_imblearn(name: str, input_path: str, output_path: str, label_col: str = "label") -> None:
    """pyarrow read, ``fit_resample``, pyarrow write, in this process."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(input_path)
    names = [n for n in table.column_names if n != label_col]
    x = np.column_stack([table.column(n).to_numpy() for n in names])
    y = table.column(label_col).to_numpy()
    x_out, y_out = make_sampler(name).fit_resample(x, y)
    columns = {
        n: pa.array(x_out[:, i], type=table.schema.field(n).type) for i, n in enumerate(names)
    }
    label = pa.array(y_out, type=table.schema.field(label_col).type)
    pq.write_table(pa.table({**columns, label_col: label}), output_path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("sampler", choices=list(SAMPLERS))
    parser.add_argument("input")
    parser.add_argument("output")
    parser.add_argument("--label-col", default="label")
    args = parser.parse_args()
    run_imblearn(args.sampler, args.input, args.output, args.label_col)


if __name__ == "__main__":
    main()
