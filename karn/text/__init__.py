"""Text: the taggers (sentiment, reasons, language) and the tags stored with
every free-text answer and call note.

`tags_for` is the one entry point for text being written; surveys and callbacks
call it. The taggers themselves import neither Flask nor the database, and
importing this package loads none of them: they load on the first text.
This package imports no feature package.
"""

from datetime import datetime
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from karn.text.competitors import Competitors
    from karn.text.reasons import ReasonModel


def tags_for(
    text: str,
    lang: str,
    now: datetime,
    reason_model: "tuple[int, ReasonModel] | None" = None,
    competitors: "Competitors | None" = None,
) -> dict[str, Any]:
    """Sentiment and reason tags as column values, for the language of the text.

    ``lang`` is the language the text is expected in (the page's, the note
    writer's); people write in the language they think in, so the text itself
    decides when it clearly is the other one.

    ``tags`` keeps every reason found with its confidence and the version of
    the reason model that found them (``model``; 0 is the shipped model), so
    ``flask analysis retag`` knows what a newer model should tag again. A row
    whose tags a person corrected carries ``corrected`` there as well and is
    not tagged again (see ``is_corrected``). ``reason_model`` pins (version,
    model) instead of the active one, as a re-tag run does.

    ``tags.competitors`` is the version of the administrators' competitor list
    the tags were made with (0: none saved yet), and ``tags.competitor`` the
    company the text names or switches to, if any; ``competitors`` pins a
    list instead of the one in use.
    """
    from karn.text.competitor_store import active_competitors
    from karn.text.competitors import brand_evidence
    from karn.text.language import detect_language
    from karn.text.model_store import active_reason_model
    from karn.text.reasons import tag_reasons
    from karn.text.sentiment import tag_sentiment

    text_lang = detect_language(text, default=lang)
    label, score = tag_sentiment(text, text_lang)
    version, model = reason_model or active_reason_model()
    listed = competitors if competitors is not None else active_competitors()
    reasons = tag_reasons(text, text_lang, model=model, competitors=listed)
    tags: dict[str, Any] = {
        "reasons": [[r, round(c, 3)] for r, c in reasons],
        "model": version,
        "competitors": listed.version,
    }
    named = brand_evidence(text, text_lang, listed) if text.strip() else None
    if named:
        tags["competitor"] = named
    return {
        "sentiment": label,
        "sentiment_score": max(-1.0, min(1.0, score)),
        "tag_reason": reasons[0][0] if reasons else None,
        "tags": tags,
        "tagged_at": now,
    }


def is_corrected(tags: dict | None) -> bool:
    """Whether a person corrected these tags (then no re-tag may change them)."""
    return bool(isinstance(tags, dict) and tags.get("corrected"))
