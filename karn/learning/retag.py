"""Tagging stored texts again after the reason model changed.

Every free-text answer of a submitted response and every call note with text
whose tags another model version made (``tags.model``; none recorded counts as
the shipped version 0), or that was never tagged, is tagged again with the
active model. Corrected rows are never touched. The work goes in batches of
``batch_size`` rows in id order (keyset: ``id > last id``), one transaction per
batch. A row done carries the active version, so the query of a later run no
longer finds it: stopping half-way and running again continues where it
stopped, by construction, and no row is tagged twice.
"""

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import current_app

from karn import clock
from karn.accounts.models import User
from karn.callbacks.models import CallNote
from karn.customers.models import Customer
from karn.extensions import db
from karn.surveys.models import Answer, Response
from karn.text import model_store, tags_for
from karn.text.reasons import tag_reasons
from karn.text.sentiment import tag_sentiment

KINDS = ("answers", "notes")


def _not_corrected(model):
    return model.tags["corrected"].as_string().is_(None)


def _stale(model, version: int):
    """Tags made by another version, or none at all."""
    made_by = sa.func.coalesce(model.tags["model"].as_integer(), 0)
    return sa.or_(model.tagged_at.is_(None), made_by != version)


def _has_text(model):
    return sa.and_(model.text.is_not(None), model.text != "")


def _candidates(kind: str, version: int):
    """The query of rows still to tag: (id, text, language)."""
    if kind == "answers":
        return (
            sa.select(Answer.id, Answer.text, Response.language)
            .join(Response, Response.id == Answer.response_id)
            .where(
                Response.submitted_at.is_not(None),
                _has_text(Answer),
                _not_corrected(Answer),
                _stale(Answer, version),
            )
            .order_by(Answer.id)
        ), Answer
    return (
        sa.select(
            CallNote.id,
            CallNote.text,
            sa.func.coalesce(CallNote.language, User.language, Customer.language),
        )
        .outerjoin(User, User.id == CallNote.author_id)
        .outerjoin(Customer, Customer.id == CallNote.customer_id)
        .where(
            _has_text(CallNote),
            _not_corrected(CallNote),
            _stale(CallNote, version),
        )
        .order_by(CallNote.id)
    ), CallNote


def remaining(version: int | None = None) -> dict[str, int]:
    """How many answers and notes still carry another version's tags."""
    if version is None:
        version = model_store.active_version()
    out = {}
    for kind in KINDS:
        query, _model = _candidates(kind, version)
        out[kind] = db.session.scalar(
            sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
        )
    return out


@dataclass
class RetagReport:
    version: int
    tagged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    batches: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def total(self) -> int:
        return sum(self.tagged.values())

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


def retag(
    batch_size: int = 1000,
    limit: int | None = None,
    progress: Callable[[str, int, int, float], None] | None = None,
) -> RetagReport:
    """Tag again what another model version tagged; commits once per batch.

    ``limit`` stops after that many texts. ``progress(kind, batch_rows,
    total_rows, rate)`` is called after each batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    model_store.invalidate()
    # One model for the whole run, whatever is activated meanwhile.
    pinned = model_store.active_reason_model()
    version = pinned[0]
    default_lang = current_app.config.get("DEFAULT_LANGUAGE", "nl")
    report = RetagReport(version=version)
    for lang in ("nl", "en"):  # lexicons load outside the timing
        tag_sentiment("warm-up", lang)
        tag_reasons("warm-up", lang)
    started = time.perf_counter()
    for kind in KINDS:
        query, model = _candidates(kind, version)
        table = model.__table__
        update = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"), _not_corrected(model))
            .values(
                sentiment=sa.bindparam("b_sentiment"),
                sentiment_score=sa.bindparam("b_score"),
                tag_reason=sa.bindparam("b_reason"),
                tags=sa.bindparam("b_tags", type_=table.c.tags.type),
                tagged_at=sa.bindparam("b_at", type_=table.c.tagged_at.type),
            )
        )
        last_id = 0
        while True:
            if limit is not None and report.total >= limit:
                report.stopped_early = True
                break
            size = (
                batch_size if limit is None else min(batch_size, limit - report.total)
            )
            rows = db.session.execute(query.where(model.id > last_id).limit(size)).all()
            if not rows:
                break
            now = clock.now()
            params = []
            for row_id, text, lang in rows:
                lang = getattr(lang, "value", lang) or default_lang
                tags = tags_for(text, lang, now, reason_model=pinned)
                params.append(
                    {
                        "b_id": row_id,
                        "b_sentiment": tags["sentiment"],
                        "b_score": tags["sentiment_score"],
                        "b_reason": tags["tag_reason"],
                        "b_tags": tags["tags"],
                        "b_at": now,
                    }
                )
            db.session.execute(update, params)
            db.session.commit()
            last_id = rows[-1][0]
            report.tagged[kind] += len(rows)
            report.batches += 1
            report.seconds = time.perf_counter() - started
            if progress is not None:
                progress(kind, len(rows), report.tagged[kind], report.per_second)
        if report.stopped_early:
            break
    report.seconds = time.perf_counter() - started
    return report
