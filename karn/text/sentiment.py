"""Sentiment of Dutch and English text: the tag stored with every answer and
note, and the plain lexicons it is measured against.

The rules (`sentiment_rules`) read the text; where a trained linear model is
shipped for the language (`sentiment_model`), it decides from the rules'
findings and the words themselves.
"""

import xml.etree.ElementTree as ET
from functools import lru_cache

from karn.text.sentiment_model import features, shipped_model
from karn.text.sentiment_rules import _THRESHOLDS, evidence, label_for, plain_vader


@lru_cache(maxsize=2)
def _model(lang: str):
    """The shipped linear model of a language, or None (rules alone)."""
    return shipped_model(lang)


def tag_sentiment(text: str, lang: str) -> tuple[str, float]:
    """Sentiment label and score in [-1, 1] of a Dutch or English text.

    Where a trained model is shipped for the language, the label is the most
    probable class and the score is P(positive) - P(negative); otherwise both
    come from the rules' compound score and the language's thresholds.
    """
    if lang not in _THRESHOLDS:
        raise ValueError(f"unsupported language: {lang!r}")
    if not text.strip():
        return "neutral", 0.0
    ev = evidence(text, lang)
    model = _model(lang)
    if model is None:
        score = round(ev.score, 4)
        return label_for(score, lang), score
    return label_of_probabilities(model.probabilities_of(features(ev, text, lang)))


def label_of_probabilities(
    probabilities: tuple[float, float, float],
) -> tuple[str, float]:
    """Label and score of (P(negative), P(neutral), P(positive))."""
    p_neg, p_neu, p_pos = probabilities
    if p_neu >= p_neg and p_neu >= p_pos:
        label = "neutral"
    else:
        label = "positive" if p_pos > p_neg else "negative"
    return label, round(p_pos - p_neg, 4)


def sentiment_probabilities(text: str, lang: str) -> tuple[float, float, float]:
    """(P(negative), P(neutral), P(positive)) of the fast tier's model.

    Where no model is shipped for the language, the rules' label counts as
    certain.
    """
    if lang not in _THRESHOLDS:
        raise ValueError(f"unsupported language: {lang!r}")
    if not text.strip():
        return 0.0, 1.0, 0.0
    ev = evidence(text, lang)
    model = _model(lang)
    if model is None:
        label = label_for(round(ev.score, 4), lang)
        return tuple(float(label == c) for c in ("negative", "neutral", "positive"))
    return model.probabilities_of(features(ev, text, lang))


@lru_cache(maxsize=1)
def _pattern_analyzer():
    """textblob-nl's Pattern analyser as shipped (for the baseline only)."""
    import sys
    import xml.etree

    # textblob-nl still imports cElementTree, removed in Python 3.9.
    sys.modules.setdefault("xml.etree.cElementTree", ET)
    xml.etree.cElementTree = ET  # type: ignore[attr-defined]
    from textblob_nl import PatternAnalyzer

    return PatternAnalyzer()


def baseline_sentiment(text: str, lang: str) -> tuple[str, float]:
    """The plain lexicons: VADER's compound for English, Pattern's for Dutch."""
    if lang == "en":
        score = plain_vader().polarity_scores(text)["compound"]
    elif lang == "nl":
        score = float(_pattern_analyzer().analyze(text)[0])
    else:
        raise ValueError(f"unsupported language: {lang!r}")
    return label_for(score, lang, baseline=True), score
