"""Tagging stored texts again after the reason model or the competitors changed.

Every free-text answer of a submitted response, every call note with text and
every tagged CRM comment (``customer_comment_tags``) whose tags another model
version made (``tags.model``; none recorded counts as the shipped version 0)
or another version of the competitor list (``tags.competitors``), or that was
never tagged, is tagged again with the active model and list. Corrected rows
are never touched. A row keeps its old tags until its new ones are written,
so no text is ever without tags. The work goes in batches of
``batch_size`` rows in id order (keyset: ``id > last id``), one transaction per
batch. A row done carries the active version, so the query of a later run no
longer finds it: stopping half-way and running again continues where it
stopped, by construction, and no row is tagged twice.

The worker runs ``run_retag_job`` every pass: when the competitor list was
saved under a version whose re-tag has not finished, it re-tags for up to
``JOB_SECONDS`` and continues in the next pass; a crash half-way loses
nothing but the batch in flight.
"""

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa
from flask import Flask, current_app

from karn import clock
from karn.accounts.models import User
from karn.callbacks.models import CallNote
from karn.customers.comments import CommentTags, digest
from karn.customers.models import Customer
from karn.extensions import db
from karn.surveys.models import Answer, Response
from karn.text import competitor_store, model_store, tags_for
from karn.text.reasons import tag_reasons
from karn.text.sentiment import tag_sentiment

log = logging.getLogger(__name__)

KINDS = ("answers", "notes", "comments")
JOB_SECONDS = 30.0
JOB_BATCH = 500


def _not_corrected(model):
    if model is CommentTags:
        return sa.true()
    return model.tags["corrected"].as_string().is_(None)


def _stale(model, version: int, competitors: int):
    """Tags made by another model or competitor list version, or none at all."""
    made_by = sa.func.coalesce(model.tags["model"].as_integer(), 0)
    listed = sa.func.coalesce(model.tags["competitors"].as_integer(), 0)
    return sa.or_(model.tagged_at.is_(None), made_by != version, listed != competitors)


def _has_text(model):
    return sa.and_(model.text.is_not(None), model.text != "")


def _candidates(kind: str, version: int, competitors: int):
    """The query of rows still to tag: (id, text, language), and its model."""
    if kind == "comments":
        return (
            sa.select(
                CommentTags.customer_id, Customer.stated_comment, Customer.language
            )
            .join(Customer, Customer.id == CommentTags.customer_id)
            .where(
                Customer.stated_comment.is_not(None),
                Customer.stated_comment != "",
                Customer.erased_at.is_(None),
                _stale(CommentTags, version, competitors),
            )
            .order_by(CommentTags.customer_id)
        ), CommentTags
    if kind == "answers":
        return (
            sa.select(Answer.id, Answer.text, Response.language)
            .join(Response, Response.id == Answer.response_id)
            .where(
                Response.submitted_at.is_not(None),
                _has_text(Answer),
                _not_corrected(Answer),
                _stale(Answer, version, competitors),
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
            _stale(CallNote, version, competitors),
        )
        .order_by(CallNote.id)
    ), CallNote


def _key(model):
    return model.customer_id if model is CommentTags else model.id


def remaining(
    version: int | None = None, competitors: int | None = None
) -> dict[str, int]:
    """How many answers, notes and comments still carry other versions' tags."""
    if version is None:
        version = model_store.active_version()
    if competitors is None:
        competitors = competitor_store.stored().version
    out = {}
    for kind in KINDS:
        query, _model = _candidates(kind, version, competitors)
        out[kind] = db.session.scalar(
            sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
        )
    return out


@dataclass
class RetagReport:
    version: int
    competitors: int = 0
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
    max_seconds: float | None = None,
) -> RetagReport:
    """Tag again what another model or list version tagged; commits per batch.

    ``limit`` stops after that many texts, ``max_seconds`` after the batch
    that passes that time (``stopped_early`` then says so). ``progress(kind,
    batch_rows, total_rows, rate)`` is called after each batch.
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    model_store.invalidate()
    # One model for the whole run, whatever is activated meanwhile.
    pinned = model_store.active_reason_model()
    version = pinned[0]
    competitor_store.invalidate()
    listed = competitor_store.stored()
    default_lang = current_app.config.get("DEFAULT_LANGUAGE", "nl")
    report = RetagReport(version=version, competitors=listed.version)
    for lang in ("nl", "en"):  # lexicons load outside the timing
        tag_sentiment("warm-up", lang)
        tag_reasons("warm-up", lang)
    started = time.perf_counter()
    for kind in KINDS:
        query, model = _candidates(kind, version, listed.version)
        table = model.__table__
        key = table.c.customer_id if model is CommentTags else table.c.id
        values = {
            "sentiment": sa.bindparam("b_sentiment"),
            "sentiment_score": sa.bindparam("b_score"),
            "tag_reason": sa.bindparam("b_reason"),
            "tags": sa.bindparam("b_tags", type_=table.c.tags.type),
            "tagged_at": sa.bindparam("b_at", type_=table.c.tagged_at.type),
        }
        if model is CommentTags:
            values["digest"] = sa.bindparam("b_digest")
        update = (
            sa.update(table)
            .where(key == sa.bindparam("b_id"), _not_corrected(model))
            .values(**values)
        )
        last_id = 0
        while True:
            if limit is not None and report.total >= limit:
                report.stopped_early = True
                break
            if max_seconds is not None and report.seconds >= max_seconds:
                report.stopped_early = True
                break
            size = (
                batch_size if limit is None else min(batch_size, limit - report.total)
            )
            rows = db.session.execute(
                query.where(_key(model) > last_id).limit(size)
            ).all()
            if not rows:
                break
            now = clock.now()
            params = []
            for row_id, text, lang in rows:
                lang = getattr(lang, "value", lang) or default_lang
                tags = tags_for(
                    text, lang, now, reason_model=pinned, competitors=listed
                )
                param = {
                    "b_id": row_id,
                    "b_sentiment": tags["sentiment"],
                    "b_score": tags["sentiment_score"],
                    "b_reason": tags["tag_reason"],
                    "b_tags": tags["tags"],
                    "b_at": now,
                }
                if model is CommentTags:
                    param["b_digest"] = digest(text)
                params.append(param)
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


def retag_after_competitors(max_seconds: float | None = JOB_SECONDS) -> bool:
    """Continue the re-tag a changed competitor list needs; True when none is left.

    Does nothing when the list's version was re-tagged already. When every
    stored text carries the list's version, records that, so later passes
    cost one look at the settings.
    """
    listed = competitor_store.stored()
    if listed.version == competitor_store.retagged_version():
        return True
    report = retag(batch_size=JOB_BATCH, max_seconds=max_seconds)
    if report.total:
        log.info(
            "re-tagged %d texts for competitor list version %d",
            report.total,
            report.competitors,
        )
    if report.stopped_early:
        return False
    competitor_store.mark_retagged(report.competitors)
    db.session.commit()
    return report.competitors == competitor_store.stored().version


def run_retag_job(app: Flask) -> bool:
    """The worker's job: never raises, so the other jobs run whatever happens."""
    with app.app_context():
        try:
            return retag_after_competitors()
        except Exception:
            log.exception("re-tagging after a change of the competitor list failed")
            db.session.rollback()
            return False
        finally:
            db.session.remove()
