"""Downstream quality: a classifier after spark_smote's sampler vs after imbalanced-learn's.

Plain Python (not spark-submit); one local[2] session (conf/local.toml settings) for
the whole run. Datasets ship with scikit-learn or this repository (no network):

- breast cancer (``load_breast_cancer``), malignant class thinned to 1:5 with a fixed seed;
- digits (``load_digits``), digit 0 against the rest (about 1:9);
- wine (``load_wine``), class 2 against the rest (about 1:3);
- ``jobs/data/wdbc.parquet``: the same breast cancer rows, unthinned (212 malignant :
  357 benign);
- digits, digit 8 against the rest (harder for a linear model than digit 0);
- diabetes (``load_diabetes``), disease progression in its top fifth against the rest
  (about 1:4; the classes overlap, AUC well below 1).

For each dataset and sampler (SMOTE, borderline-1, borderline-2, ADASYN, default
parameters): ``StratifiedKFold(5, shuffle=True, random_state=0)``; the training fold is
resampled by spark_smote (exact neighbour search, seed = fold + 5 * repeat) and,
separately, by imbalanced-learn's same sampler (random_state the same); the same
classifier is fit on each and scored by ROC AUC on the untouched validation fold.
Printed: a Markdown table of the mean AUC over folds and repeats, ours and
imbalanced-learn's, and their difference. One resampling draw per fold moves the mean
AUC by several thousandths on small data (``--repeats`` averages that out).

    python jobs/quality_benchmark.py                       # logistic regression
    python jobs/quality_benchmark.py --classifier forest   # random forest, 200 trees
    python jobs/quality_benchmark.py --only diabetes "digits, 8"   # datasets by name
    python jobs/quality_benchmark.py --classifier forest --repeats 4 --only diabetes
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from recall_benchmark import session

DATA = Path(__file__).resolve().parent / "data" / "wdbc.parquet"
FOLDS = 5
# Malignant rows kept per benign row in the thinned breast cancer set (1:5).
THINNED_RATIO = 0.2
SAMPLERS = ("smote", "borderline-1", "borderline-2", "adasyn")


def datasets() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Features and 0/1 labels (1 = the minority class) of every dataset."""
    from sklearn.datasets import load_breast_cancer, load_diabetes, load_digits, load_wine

    cancer = load_breast_cancer()
    malignant = np.flatnonzero(cancer.target == 0)
    benign = np.flatnonzero(cancer.target == 1)
    keep = np.random.default_rng(0).choice(
        malignant, int(len(benign) * THINNED_RATIO), replace=False
    )
    rows = np.sort(np.concatenate([benign, keep]))
    digits = load_digits()
    wine = load_wine()
    diabetes = load_diabetes()
    # Top fifth of disease progression: the positive class.
    worst = diabetes.target > np.quantile(diabetes.target, 0.8)
    wdbc = pd.read_parquet(DATA)
    features = [c for c in wdbc.columns if c not in ("id", "diagnosis")]
    return {
        "breast cancer, malignant thinned 1:5": (
            cancer.data[rows],
            (cancer.target[rows] == 0).astype(int),
        ),
        "digits, 0 vs rest": (digits.data, (digits.target == 0).astype(int)),
        "wine, class 2 vs rest": (wine.data, (wine.target == 2).astype(int)),
        "wdbc.parquet, unthinned": (
            wdbc[features].to_numpy(np.float64),
            (wdbc["diagnosis"] == "malignant").to_numpy().astype(int),
        ),
        "digits, 8 vs rest": (digits.data, (digits.target == 8).astype(int)),
        "diabetes, top fifth vs rest": (diabetes.data, worst.astype(int)),
    }


def classifier(kind: str) -> Any:
    """A fresh, fixed-seed classifier."""
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if kind == "forest":
        return RandomForestClassifier(n_estimators=200, random_state=0, n_jobs=1)
    return make_pipeline(StandardScaler(), LogisticRegression(max_iter=5000))


def ours(spark: Any, name: str, seed: int) -> Callable[[np.ndarray, np.ndarray], tuple]:
    """Resample with spark_smote's sampler ``name`` in the local session."""
    from spark_smote import ADASYN, SMOTE, BorderlineSMOTE

    common = {"label_col": "label", "seed": seed, "neighbor_search": "exact"}
    samplers: dict[str, Callable[[], Any]] = {
        "smote": lambda: SMOTE(**common),
        "borderline-1": lambda: BorderlineSMOTE(kind="borderline-1", **common),
        "borderline-2": lambda: BorderlineSMOTE(kind="borderline-2", **common),
        "adasyn": lambda: ADASYN(**common),
    }

    def resample(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        columns = [f"f{j}" for j in range(x.shape[1])]
        frame = pd.DataFrame(x, columns=columns).assign(label=y.astype(np.int32))
        out = samplers[name]().fit_resample(spark.createDataFrame(frame)).toPandas()
        return out[columns].to_numpy(np.float64), out["label"].to_numpy()

    return resample


def theirs(name: str, seed: int) -> Callable[[np.ndarray, np.ndarray], tuple]:
    """Resample with imbalanced-learn's sampler ``name``."""
    from imblearn.over_sampling import ADASYN, SMOTE, BorderlineSMOTE

    samplers: dict[str, Callable[[], Any]] = {
        "smote": lambda: SMOTE(random_state=seed),
        "borderline-1": lambda: BorderlineSMOTE(kind="borderline-1", random_state=seed),
        "borderline-2": lambda: BorderlineSMOTE(kind="borderline-2", random_state=seed),
        "adasyn": lambda: ADASYN(random_state=seed),
    }
    return lambda x, y: samplers[name]().fit_resample(x, y)


def fold_auc(
    resample: Callable[[np.ndarray, np.ndarray], tuple],
    train: tuple[np.ndarray, np.ndarray],
    valid: tuple[np.ndarray, np.ndarray],
    kind: str,
) -> float | None:
    """AUC on the validation fold of the classifier fit on the resampled training fold.

    None when the sampler refuses the fold (ADASYN: no minority row has a majority
    neighbour; both libraries raise then: a ValueError, or imbalanced-learn's
    RuntimeError).
    """
    from sklearn.metrics import roc_auc_score

    try:
        x, y = resample(*train)
    except (ValueError, RuntimeError) as error:
        print(f"  refused: {str(error).splitlines()[0][:160]}", flush=True)
        return None
    model = classifier(kind).fit(x, y)
    return float(roc_auc_score(valid[1], model.predict_proba(valid[0])[:, 1]))


def mean_auc(scores: list[float | None]) -> tuple[float | None, str]:
    """Mean AUC over the fits the sampler accepted, and its text for the table."""
    kept = [s for s in scores if s is not None]
    if not kept:
        return None, "refused"
    mean = float(np.mean(kept))
    note = f" ({len(scores) - len(kept)} fits refused)" if len(kept) < len(scores) else ""
    return mean, f"{mean:.4f}{note}"


def main() -> None:
    from sklearn.model_selection import StratifiedKFold

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", choices=("logistic", "forest"), default="logistic")
    parser.add_argument("--only", nargs="+", help="datasets whose name contains one of these")
    parser.add_argument(
        "--repeats",
        type=int,
        default=1,
        help="resampling seeds per fold (averages out the draws' noise; default 1)",
    )
    args = parser.parse_args()
    spark = session()
    spark.conf.set("spark.sql.shuffle.partitions", "2")
    started = time.monotonic()
    lines = []
    chosen = {
        name: data
        for name, data in datasets().items()
        if not args.only or any(part in name for part in args.only)
    }
    for dataset, (x, y) in chosen.items():
        folds = list(StratifiedKFold(FOLDS, shuffle=True, random_state=0).split(x, y))
        for name in SAMPLERS:
            scores: dict[str, list[float | None]] = {"ours": [], "imbalanced-learn": []}
            for fold, (train, valid) in enumerate(folds):
                parts = ((x[train], y[train]), (x[valid], y[valid]))
                for repeat in range(args.repeats):
                    seed = fold + FOLDS * repeat
                    scores["ours"].append(
                        fold_auc(ours(spark, name, seed), *parts, args.classifier)
                    )
                    scores["imbalanced-learn"].append(
                        fold_auc(theirs(name, seed), *parts, args.classifier)
                    )
            (mine, mine_text), (reference, reference_text) = (
                mean_auc(scores["ours"]),
                mean_auc(scores["imbalanced-learn"]),
            )
            difference = (
                "n/a"
                if mine is None or reference is None
                else f"{round(mine - reference, 4) + 0.0:+.4f}"  # + 0.0: no "-0.0000"
            )
            minority = int(y.sum())
            line = (
                f"| {dataset} ({minority}:{len(y) - minority}) | {name} | {mine_text} "
                f"| {reference_text} | {difference} |"
            )
            lines.append(line)
            print(line, flush=True)
    print()
    print(
        f"Classifier: {args.classifier}; {FOLDS}-fold CV, {args.repeats} resampling seed(s) "
        "per fold; mean ROC AUC."
    )
    print()
    print("| dataset (minority:majority) | sampler | AUC ours | AUC imbalanced-learn | diff |")
    print("|---|---|---|---|---|")
    print("\n".join(lines))
    print(f"\n{time.monotonic() - started:.0f} s")
    spark.stop()


if __name__ == "__main__":
    main()
