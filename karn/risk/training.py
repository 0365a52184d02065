"""Training and validating the churn-risk model and the likely-reason model.

Label. Without usable departure dates (a snapshot import), every customer is
observed at one moment and the label is "departed"; the probability then reads
as "the share of customers like this one who left". When departure dates are
known for nearly all departures, the label stays "departed", but validation is
forward in time: the model is trained on the departures before a cut-off (the
date by which 80% of the dated departures had happened) and on 80% of the
current customers, and tested on the departures after the cut-off and on the
other 20% of the current customers, so it is judged on people who left after
everything it learned from. (A "departed within 90 days" label would need the
attributes as they were at each cut-off, which Karn does not keep; a survival
model would need the same.) Otherwise the figures are out-of-fold: 5-fold
stratified cross-validation, so no customer is ever scored by a model that saw
them, and the figure compares with a plain baseline.

Model. Two candidates with scikit-learn's defaults, no tuning per data set:
gradient boosting (``HistGradientBoostingClassifier`` with native categorical
features) and L2-regularised logistic regression (one-hot categories, scaled
numbers, missing values imputed and flagged). The one with the higher
out-of-fold AUC is kept and refitted on everyone. Probabilities are calibrated
by isotonic regression on the out-of-fold scores; the calibration error
reported is cross-fitted (each fold's scores calibrated on the other folds').
With forward validation the candidates are cross-validated on the training
side of the cut-off only, and those out-of-fold scores also calibrate the
model tested on the later departures.
With more than ``CV_MAX`` customers the choice and the figures use a
stratified sample of that size; the final model is fitted on all.

Likely reason. A second model (logistic regression) learns the main reason of
the departed customers from the same features; it is used only when its
cross-validated accuracy beats always guessing the most common reason by more
than chance (a one-sided 2.5% margin), else "no likely reason".
"""

import math
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np
from threadpoolctl import threadpool_limits

from karn.risk.features import FeatureSet
from karn.risk.thresholds import MIN_ACTIVE, MIN_DEPARTED, TooLittleData

# scikit-learn is imported in the functions that train: loading it takes a
# second, which every page and command would otherwise wait for.
if TYPE_CHECKING:
    from sklearn.isotonic import IsotonicRegression

FOLDS = 5
CV_MAX = 200_000
REASON_MAX = 50_000
MIN_REASON_EXAMPLES = 30
MIN_REASON_CLASS = 5
FORWARD_SHARE = 0.8
FORWARD_MIN_AFTER = 50
CANDIDATES = ("gradient_boosting", "logistic_regression")
THREADS = 1


def make_estimator(kind: str, categorical: np.ndarray, seed: int = 0):
    """A fresh candidate model; ``categorical`` marks the coded columns."""
    from sklearn.compose import ColumnTransformer
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    if kind == "gradient_boosting":
        return HistGradientBoostingClassifier(
            categorical_features=categorical if categorical.any() else None,
            random_state=seed,
        )
    cats = np.flatnonzero(categorical)
    nums = np.flatnonzero(~categorical)
    parts = []
    if len(cats):
        parts.append(
            (
                "cat",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="constant", fill_value=-1)),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                cats,
            )
        )
    if len(nums):
        parts.append(
            (
                "num",
                Pipeline(
                    [
                        ("fill", SimpleImputer(strategy="median", add_indicator=True)),
                        ("scale", StandardScaler()),
                    ]
                ),
                nums,
            )
        )
    return Pipeline(
        [
            ("prepare", ColumnTransformer(parts)),
            ("model", LogisticRegression(C=1.0, max_iter=1000)),
        ]
    )


def top_decile_lift(y: np.ndarray, score: np.ndarray) -> float:
    """The departure rate among the 10% scored highest, over the overall rate."""
    k = max(1, int(math.ceil(0.1 * len(y))))
    top = np.argsort(-score, kind="stable")[:k]
    base = y.mean()
    return float(y[top].mean() / base) if base else 0.0


def calibration_error(y: np.ndarray, p: np.ndarray, bins: int = 10) -> float:
    """Expected calibration error over ``bins`` equal-frequency bins."""
    order = np.argsort(p, kind="stable")
    total = 0.0
    for part in np.array_split(order, bins):
        if len(part):
            total += len(part) * abs(p[part].mean() - y[part].mean())
    return float(total / len(y))


def out_of_fold(kind, X, y, categorical, folds=FOLDS, seed=0) -> np.ndarray:
    """Each customer's score from the model of the folds without them."""
    from sklearn.model_selection import StratifiedKFold

    scores = np.empty(len(y), dtype=np.float64)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(X, y):
        model = make_estimator(kind, categorical, seed).fit(X[train], y[train])
        scores[test] = model.predict_proba(X[test])[:, 1]
    return scores


def _isotonic(scores, y) -> "IsotonicRegression":
    from sklearn.isotonic import IsotonicRegression

    return IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip").fit(scores, y)


def cross_fitted(scores, y, folds=FOLDS, seed=0) -> np.ndarray:
    """Calibrated probabilities, each fold's mapped by the others' isotonic fit."""
    from sklearn.model_selection import StratifiedKFold

    out = np.empty(len(y), dtype=np.float64)
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed + 1)
    for train, test in splitter.split(scores.reshape(-1, 1), y):
        out[test] = _isotonic(scores[train], y[train]).predict(scores[test])
    return out


def _stratified_sample(y, size, seed=0) -> np.ndarray:
    if len(y) <= size:
        return np.arange(len(y))
    rng = np.random.default_rng(seed)
    chosen = [
        rng.choice(np.flatnonzero(y == label), round(size * np.mean(y == label)), False)
        for label in (False, True)
    ]
    return np.sort(np.concatenate(chosen))


def forward_split(y, dates, seed=0):
    """(train, test, cut-off) for forward-in-time validation, or None."""
    departed = np.flatnonzero(y)
    dated = [i for i in departed if dates[i] is not None]
    if len(dated) < 0.9 * len(departed) or not len(dated):
        return None
    stamps = np.array([dates[i].timestamp() for i in dated])
    cutoff = np.quantile(stamps, FORWARD_SHARE)
    after = np.array([i for i, s in zip(dated, stamps, strict=True) if s > cutoff])
    before = np.array([i for i, s in zip(dated, stamps, strict=True) if s <= cutoff])
    if len(after) < FORWARD_MIN_AFTER or len(before) < MIN_DEPARTED // 2:
        return None
    active = np.flatnonzero(~y)
    rng = np.random.default_rng(seed)
    held = rng.random(len(active)) >= FORWARD_SHARE
    train = np.sort(np.concatenate([before, active[~held]]))
    test = np.sort(np.concatenate([after, active[held]]))
    return train, test, dates[after[0]].fromtimestamp(cutoff, dates[after[0]].tzinfo)


def calibration_bins(y: np.ndarray, p: np.ndarray, bins: int = 10) -> list:
    """[mean probability, share that left, customers] per equal-frequency bin."""
    order = np.argsort(p, kind="stable")
    return [
        [round(float(p[part].mean()), 4), round(float(y[part].mean()), 4), len(part)]
        for part in np.array_split(order, bins)
        if len(part)
    ]


def gains(y: np.ndarray, score: np.ndarray, steps: int = 10) -> list:
    """[share of customers, share of the leavers among them] for the top 10%,
    20%, … 100% scored highest: the cumulative gains curve."""
    order = np.argsort(-score, kind="stable")
    found = np.cumsum(y[order])
    total = max(1, int(y.sum()))
    out = []
    for k in range(1, steps + 1):
        upto = max(1, int(math.ceil(k / steps * len(y))))
        out.append([round(k / steps, 2), round(float(found[upto - 1]) / total, 4)])
    return out


def _figures(y, raw, calibrated) -> dict:
    from sklearn.metrics import roc_auc_score

    return {
        "auc": round(float(roc_auc_score(y, raw)), 4),
        "top_decile_lift": round(top_decile_lift(y, raw), 3),
        "calibration_error": round(calibration_error(y, calibrated), 4),
        # The pictures on the at-risk page, from the same validation.
        "calibration_bins": calibration_bins(y, calibrated),
        "gains": gains(y, raw),
    }


@dataclass
class Bundle:
    """What a stored version holds: features, model, calibration, reasons."""

    features: FeatureSet
    kind: str
    estimator: object
    calibrator: "IsotonicRegression"
    reason_model: object | None = None
    reason_classes: list[str] = field(default_factory=list)

    def raw(self, X: np.ndarray) -> np.ndarray:
        # One thread: the trees' OpenMP start-up costs more than it saves on
        # the chunks scored here (1.8 s instead of 16 s for 8,000 customers).
        with threadpool_limits(1):
            return self.estimator.predict_proba(X)[:, 1]

    def probability(self, X: np.ndarray) -> np.ndarray:
        return self.calibrator.predict(self.raw(X))

    def likely_reasons(self, X: np.ndarray) -> list[str | None]:
        if self.reason_model is None or not len(X):
            return [None] * len(X)
        with threadpool_limits(1):
            return [str(r) for r in self.reason_model.predict(X)]


def train_reason_model(X, reasons: list[str | None], categorical, seed=0):
    """(model or None, evaluation) of the likely-reason model."""
    from sklearn.model_selection import StratifiedKFold

    keep = np.array([r is not None for r in reasons], dtype=bool)
    labels = np.array([r for r in reasons if r is not None], dtype=object)
    Xr = X[keep]
    values, counts = np.unique(labels, return_counts=True)
    common = set(values[counts >= MIN_REASON_CLASS])
    usable = np.array([r in common for r in labels], dtype=bool)
    Xr, labels = Xr[usable], labels[usable]
    if len(labels) > REASON_MAX:
        pick = np.random.default_rng(seed).choice(len(labels), REASON_MAX, False)
        Xr, labels = Xr[pick], labels[pick]
    n = len(labels)
    result = {"n": n, "useful": False}
    if n < MIN_REASON_EXAMPLES or len(common) < 2:
        result["why"] = "too few departed customers with a known reason"
        return None, result
    _, counts = np.unique(labels, return_counts=True)
    majority = float(counts.max() / n)
    folds = int(min(FOLDS, counts.min()))
    hits = 0
    for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(
        Xr, labels
    ):
        model = make_estimator("logistic_regression", categorical, seed)
        model.fit(Xr[train], labels[train])
        hits += int((model.predict(Xr[test]) == labels[test]).sum())
    accuracy = hits / n
    margin = 1.96 * math.sqrt(majority * (1 - majority) / n)
    result.update(
        accuracy=round(accuracy, 4),
        majority=round(majority, 4),
        useful=accuracy > majority + margin,
        validation=f"{folds}-fold stratified cross-validation",
    )
    if not result["useful"]:
        result["why"] = "no better than always guessing the most common reason"
        return None, result
    model = make_estimator("logistic_regression", categorical, seed)
    return model.fit(Xr, labels), result


def train(
    feature_set: FeatureSet,
    X: np.ndarray,
    y: np.ndarray,
    dates: list | None = None,
    reasons: list[str | None] | None = None,
    seed: int = 0,
    candidates: tuple[str, ...] = CANDIDATES,
) -> tuple[Bundle, dict]:
    """Choose, validate and fit the risk model; (bundle, metrics).

    On ``THREADS`` threads: the trees' OpenMP threads wait for each other
    at every step, and on a machine whose cores are busy with other work (a
    web server beside the worker) that waiting swamps the work. Measured on
    this 2-core machine at a load of 13: one fit of 50,000 customers took 98
    s on two threads (13 s CPU) and 5 s on one (0.4 s CPU).
    """
    with threadpool_limits(THREADS):
        return _train(feature_set, X, y, dates, reasons, seed, candidates)


def _train(feature_set, X, y, dates, reasons, seed, candidates):
    from sklearn.metrics import roc_auc_score

    started = time.monotonic()
    departed, active = int(y.sum()), int((~y).sum())
    if departed < MIN_DEPARTED or active < MIN_ACTIVE:
        raise TooLittleData(departed, active)
    categorical = feature_set.categorical_mask
    split = forward_split(y, dates, seed) if dates is not None else None
    # With a forward split, the candidates are compared on the past only: the
    # same out-of-fold scores choose the model and calibrate it, and the
    # future part stays unseen until the test. (Cross-validating everyone as
    # well, then the past again for the test's calibration, cost five more
    # fits for the same choice.)
    learn = split[0] if split is not None else np.arange(len(y))
    pick = learn[_stratified_sample(y[learn], CV_MAX, seed)]
    Xs, ys = X[pick], y[pick]
    oof = {
        kind: out_of_fold(kind, Xs, ys, categorical, seed=seed) for kind in candidates
    }
    aucs = {kind: round(float(roc_auc_score(ys, s)), 4) for kind, s in oof.items()}
    kind = max(candidates, key=lambda k: aucs[k])
    calibrator = _isotonic(oof[kind], ys)
    if split is None:
        metrics = {
            **_figures(ys, oof[kind], cross_fitted(oof[kind], ys, seed=seed)),
            "validation": f"{FOLDS}-fold stratified cross-validation, out of fold"
            + (f" (a stratified sample of {len(pick)})" if len(pick) < len(y) else ""),
        }
    else:
        train_idx, test_idx, cutoff = split
        model = make_estimator(kind, categorical, seed).fit(X[train_idx], y[train_idx])
        raw = model.predict_proba(X[test_idx])[:, 1]
        metrics = {
            **_figures(y[test_idx], raw, calibrator.predict(raw)),
            "validation": (
                "forward in time: trained on the departures up to "
                f"{cutoff:%Y-%m-%d} and 80% of the current customers, tested on "
                f"the {int(y[test_idx].sum())} departures after it and the other "
                "20%"
            ),
            "cross_validated_auc": aucs[kind],
        }
        del model
    estimator = make_estimator(kind, categorical, seed).fit(X, y)
    bundle = Bundle(feature_set, kind, estimator, calibrator)
    reason_metrics = {"n": 0, "useful": False, "why": "no reasons given"}
    if reasons is not None:
        departed_rows = np.flatnonzero(y)
        bundle.reason_model, reason_metrics = train_reason_model(
            X[departed_rows], [reasons[i] for i in departed_rows], categorical, seed
        )
        if bundle.reason_model is not None:
            bundle.reason_classes = [str(c) for c in bundle.reason_model.classes_]
    metrics.update(
        n=len(y),
        departed=departed,
        active=active,
        model=kind,
        candidates=aucs,
        features=feature_set.names,
        left_out=feature_set.left_out,
        reason_model=reason_metrics,
        seconds=round(time.monotonic() - started, 1),
    )
    return bundle, metrics
