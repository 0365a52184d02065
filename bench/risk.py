"""Churn-risk model: training and scoring time on N synthetic customers, beside
plain scikit-learn on the same arrays.

    .venv/bin/python bench/risk.py                       # 20,000 customers
    .venv/bin/python bench/risk.py --customers 1000000

Karn's figure is its whole training (both candidates 5-fold cross-validated,
calibration, the final fit; at most 200,000 customers in the cross-validation)
and its scoring (calibrated probabilities in chunks of 5,000, as the worker
scores); the baseline is one plain HistGradientBoostingClassifier fit and one
predict_proba on the same arrays. Prints the figures; asserts nothing about
time.
"""

import argparse
import os
import sys
import time

import numpy as np
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.metrics import roc_auc_score

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from karn.risk import features, training  # noqa: E402


def synthetic(n: int, seed: int = 0):
    """Records with a planted risk pattern, and the matching label."""
    rng = np.random.default_rng(seed)
    monthly = rng.random(n) < 0.5
    tenure = rng.integers(0, 61, n)
    revenue = rng.gamma(2.0, 30.0, n)
    tickets = rng.poisson(1.5, n)
    region = rng.integers(0, 8, n)
    logit = -3.0 + 2.0 * monthly + 2.0 * (tenure < 6) + 0.3 * tickets - 0.03 * tenure
    y = rng.random(n) < 1 / (1 + np.exp(-logit))
    records = [
        {
            "tenure_months": int(tenure[i]),
            "monthly_revenue": float(revenue[i]),
            "plan": "monthly" if monthly[i] else "yearly",
            "region": f"R{region[i]}",
            "extra": {"Support tickets": int(tickets[i])},
        }
        for i in range(n)
    ]
    return records, y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--customers", type=int, default=20_000)
    args = parser.parse_args()
    n = args.customers
    records, y = synthetic(n)
    started = time.monotonic()
    fs = features.fit(records[: training.CV_MAX])
    X = np.vstack([fs.matrix(records[i : i + 5000]) for i in range(0, n, 5000)]).astype(
        np.float32
    )
    prepare = time.monotonic() - started

    started = time.monotonic()
    bundle, metrics = training.train(fs, X, y)
    train_s = time.monotonic() - started
    started = time.monotonic()
    p = np.concatenate([bundle.probability(X[i : i + 5000]) for i in range(0, n, 5000)])
    score_s = time.monotonic() - started

    started = time.monotonic()
    plain = HistGradientBoostingClassifier(
        categorical_features=fs.categorical_mask
    ).fit(X, y)
    plain_train = time.monotonic() - started
    started = time.monotonic()
    q = plain.predict_proba(X)[:, 1]
    plain_score = time.monotonic() - started

    print(f"customers                 {n:>12,}")
    print(f"features (from records)   {prepare:>11.1f}s")
    print(
        f"Karn train                {train_s:>11.1f}s  (AUC {metrics['auc']:.3f}, "
        f"{metrics['model']}, {metrics['validation']})"
    )
    print(f"Karn score                {score_s:>11.1f}s  ({n / score_s:,.0f}/s)")
    print(
        f"plain HGB fit             {plain_train:>11.1f}s  (in-sample AUC "
        f"{roc_auc_score(y, q):.3f})"
    )
    print(f"plain HGB predict_proba   {plain_score:>11.1f}s")
    print(
        f"mean probability Karn {p.mean():.3f}, plain {q.mean():.3f}, "
        f"observed {y.mean():.3f}"
    )


if __name__ == "__main__":
    main()
