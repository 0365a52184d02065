"""Churn-risk accuracy on a public churn data set: Karn beside plain
scikit-learn on the same file.

    .venv/bin/python bench/risk_accuracy.py \\
        ../shared/realworld/churn/bank_churn_modelling.csv \\
        --label Exited --drop RowNumber CustomerId Surname
    .venv/bin/python bench/risk_accuracy.py PATH/Telco-Customer-Churn.csv \\
        --label Churn --drop customerID

Karn: the file is imported into a fresh SQLite database as a user would
(``flask customers import``, the status column found by its name), then
``flask risk train`` runs and its last line, the evaluation, is printed.

Baseline, from the same file: 5-fold stratified cross-validation (shuffled,
seed 0) of ``HistGradientBoostingClassifier`` with default settings
(categories as native categorical features) and of ``LogisticRegression``
(one-hot categories, scaled numbers, median-imputed), on every column but the
label and the ``--drop`` ones; the label is read as the import reads a status
column, and rows it cannot read are left out, as the import rejects them.
Prints AUC and top-decile lift of each.
Nothing is copied from the file into the project.
"""

import argparse
import csv
import json
import os
import sys
import tempfile
import time

import numpy as np
from threadpoolctl import threadpool_limits

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from bench.customer_list import fresh_app  # noqa: E402


def _float(text: str) -> float | None:
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def arrays(path: str, label: str, drop: list[str]):
    """(X, y, categorical mask) of the file's good rows."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    from karn.customers.csv_status import asks, read_status, value_key
    from karn.enums import CustomerStatus

    columns = [c for c in rows[0] if c != label and c not in drop]
    # Who left, read as the import reads the status column.
    # A column whose name asks nothing (Target: 1/0): yes means left.
    asked = asks(label) or "departed"
    status = [read_status(value_key(r.get(label) or ""), asked, {}) for r in rows]
    good = [r for r, s in zip(rows, status, strict=True) if s is not None]
    y = np.array([s == CustomerStatus.DEPARTED for s in status if s is not None])
    X = np.empty((len(good), len(columns)))
    categorical = np.zeros(len(columns), dtype=bool)
    for j, name in enumerate(columns):
        texts = [(r.get(name) or "").strip() for r in good]
        numbers = [_float(t) for t in texts]
        present = [t for t in texts if t]
        if sum(n is not None for n in numbers) >= 0.95 * max(1, len(present)):
            X[:, j] = [np.nan if n is None else n for n in numbers]
        else:
            categorical[j] = True
            codes = {v: i for i, v in enumerate(sorted(set(present)))}
            X[:, j] = [codes.get(t, np.nan) for t in texts]
    return X, y, categorical


def baseline(X, y, categorical) -> dict:
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from karn.risk.training import top_decile_lift

    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    models = {
        "plain gradient boosting": HistGradientBoostingClassifier(
            categorical_features=categorical
        ),
        "plain logistic regression": make_pipeline(
            ColumnTransformer(
                [
                    (
                        "cat",
                        make_pipeline(
                            SimpleImputer(strategy="most_frequent"),
                            OneHotEncoder(handle_unknown="ignore"),
                        ),
                        np.flatnonzero(categorical),
                    ),
                    (
                        "num",
                        make_pipeline(SimpleImputer(), StandardScaler()),
                        np.flatnonzero(~categorical),
                    ),
                ]
            ),
            LogisticRegression(max_iter=1000),
        ),
    }
    out = {}
    for name, model in models.items():
        # One thread, as Karn's fits (the result does not depend on it).
        with threadpool_limits(1):
            p = cross_val_predict(model, X, y, cv=folds, method="predict_proba")
        p = p[:, 1]
        out[name] = {
            "auc": round(float(roc_auc_score(y, p)), 4),
            "top_decile_lift": round(top_decile_lift(y, p), 3),
        }
    return out


def karn(path: str) -> tuple[dict, str, float]:
    """(evaluation, import summary, training seconds) of Karn on the file."""
    with tempfile.TemporaryDirectory() as tmp:
        app = fresh_app(f"sqlite:///{tmp}/accuracy.db")
        runner = app.test_cli_runner()
        imported = runner.invoke(args=["customers", "import", path])
        started = time.monotonic()
        trained = runner.invoke(args=["risk", "train"])
        seconds = time.monotonic() - started
        if trained.exit_code != 0:
            raise SystemExit(trained.output)
        last = trained.output.strip().splitlines()[-1]
        summary = imported.output.strip().splitlines()[-1] if imported.output else ""
        return json.loads(last), summary, seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path")
    parser.add_argument("--label", required=True, help="the column saying who left")
    parser.add_argument("--drop", nargs="*", default=[], help="identifier columns")
    args = parser.parse_args()
    X, y, categorical = arrays(args.path, args.label, args.drop)
    print(
        f"file       {os.path.basename(args.path)}: {len(y):,} rows, {y.sum():,} left"
    )
    for name, figures in baseline(X, y, categorical).items():
        auc, lift = figures["auc"], figures["top_decile_lift"]
        print(f"{name:<26} AUC {auc:.3f}  lift {lift:.2f}")
    metrics, summary, seconds = karn(args.path)
    print(f"import     {summary}")
    print(
        f"{'Karn (' + metrics.get('model', '?') + ')':<26} AUC {metrics['auc']:.3f}  "
        f"lift {metrics['top_decile_lift']:.2f}  calibration error "
        f"{metrics['calibration_error']:.3f}  ({metrics['validation']}; n "
        f"{metrics['n']:,}; trained in {seconds:.0f} s, load "
        f"{os.getloadavg()[0]:.1f})"
    )
    print(json.dumps(metrics.get("candidates")))


if __name__ == "__main__":
    main()
