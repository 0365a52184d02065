"""The text tags stored with a free-text answer or a call note, in one place."""

from datetime import datetime
from typing import Any

from karn.analysis.language import detect_language
from karn.analysis.reasons import tag_reasons
from karn.analysis.sentiment import tag_sentiment


def tags_for(text: str, lang: str, now: datetime) -> dict[str, Any]:
    """Sentiment and reason tags as column values, for the language of the text.

    ``lang`` is the language the text is expected in (the page's, the note
    writer's); people write in the language they think in, so the text itself
    decides when it clearly is the other one.
    """
    text_lang = detect_language(text, default=lang)
    label, score = tag_sentiment(text, text_lang)
    reasons = tag_reasons(text, text_lang)
    return {
        "sentiment": label,
        "sentiment_score": max(-1.0, min(1.0, score)),
        "tag_reason": reasons[0][0] if reasons else None,
        "tags": {"reasons": [[r, round(c, 3)] for r, c in reasons]},
        "tagged_at": now,
    }
