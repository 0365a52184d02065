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

``run_best_tier_job`` does the same with the accurate tier
(``karn.text.encoder``) for every text whose tags the fast tier made
(``tags.tier`` not ``best``), newest first, ``BEST_JOB_SECONDS`` a pass, so
the pages show the best tag there is. It also takes the feedback items
(``karn.feedback``) the fast tier tagged, after the answers, notes and
comments: their columns are the same, so it costs one more query a pass.
Without the encoder it does nothing.
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
from karn.feedback.models import FeedbackItem
from karn.surveys.models import Answer, Response
from karn.text import competitor_store, model_store, tags_for
from karn.text.reasons import tag_reasons

log = logging.getLogger(__name__)

KINDS = ("answers", "notes", "comments")
# The accurate tier also reads feedback items, last: the fast tier tags them
# first (karn.feedback.tagging, which also records their language).
BEST_KINDS = (*KINDS, "feedback")
JOB_SECONDS = 30.0
JOB_BATCH = 500
# The accurate tier tags tens of texts a second: short slices keep the mail
# loop moving, and a pass that found nothing waits a while before looking
# again (the look is a scan).
BEST_JOB_SECONDS = 10.0
BEST_JOB_BATCH = 32
BEST_IDLE_SECONDS = 60.0
_IDLE = "karn_best_tier_idle_until"


def _not_corrected(model):
    if model is CommentTags:
        return sa.true()
    return model.tags["corrected"].as_string().is_(None)


def _stale(model, version: int, competitors: int):
    """Tags made by another model or competitor list version, or none at all."""
    made_by = sa.func.coalesce(model.tags["model"].as_integer(), 0)
    listed = sa.func.coalesce(model.tags["competitors"].as_integer(), 0)
    return sa.or_(model.tagged_at.is_(None), made_by != version, listed != competitors)


def _not_best(model):
    """Tags the accurate tier did not make (yet)."""
    return sa.func.coalesce(model.tags["tier"].as_string(), "fast") != "best"


def _has_text(model):
    return sa.and_(model.text.is_not(None), model.text != "")


def _todo(model, version: int, competitors: int, best: bool):
    stale = _stale(model, version, competitors)
    return sa.or_(stale, _not_best(model)) if best else stale


def _candidates(kind: str, version: int, competitors: int, best: bool = False):
    """The query of rows still to tag: (id, text, language), and its model.

    ``best``: also the rows the accurate tier has not tagged, newest first.
    """
    if kind == "comments":
        model = CommentTags
        query = (
            sa.select(
                CommentTags.customer_id, Customer.stated_comment, Customer.language
            )
            .join(Customer, Customer.id == CommentTags.customer_id)
            .where(
                Customer.stated_comment.is_not(None),
                Customer.stated_comment != "",
                Customer.erased_at.is_(None),
                _todo(CommentTags, version, competitors, best),
            )
        )
    elif kind == "feedback":
        model = FeedbackItem
        query = sa.select(
            FeedbackItem.id, FeedbackItem.text, FeedbackItem.language
        ).where(
            FeedbackItem.tagged_at.is_not(None),
            _has_text(FeedbackItem),
            _not_corrected(FeedbackItem),
            _todo(FeedbackItem, version, competitors, best),
        )
    elif kind == "answers":
        model = Answer
        query = (
            sa.select(Answer.id, Answer.text, Response.language)
            .join(Response, Response.id == Answer.response_id)
            .where(
                Response.submitted_at.is_not(None),
                _has_text(Answer),
                _not_corrected(Answer),
                _todo(Answer, version, competitors, best),
            )
        )
    else:
        model = CallNote
        query = (
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
                _todo(CallNote, version, competitors, best),
            )
        )
    key = _key(model)
    return query.order_by(key.desc() if best else key), model


def _key(model):
    return model.customer_id if model is CommentTags else model.id


def remaining(
    version: int | None = None, competitors: int | None = None, best: bool = False
) -> dict[str, int]:
    """How many answers, notes and comments still carry other versions' tags.

    ``best``: or tags the accurate tier did not make; then feedback items too.
    """
    if version is None:
        version = model_store.active_version()
    if competitors is None:
        competitors = competitor_store.stored().version
    out = {}
    for kind in BEST_KINDS if best else KINDS:
        query, _model = _candidates(kind, version, competitors, best)
        out[kind] = db.session.scalar(
            sa.select(sa.func.count()).select_from(query.order_by(None).subquery())
        )
    return out


@dataclass
class RetagReport:
    version: int
    competitors: int = 0
    tagged: dict[str, int] = field(default_factory=lambda: dict.fromkeys(BEST_KINDS, 0))
    batches: int = 0
    seconds: float = 0.0
    stopped_early: bool = False

    @property
    def total(self) -> int:
        return sum(self.tagged.values())

    @property
    def per_second(self) -> float:
        return self.total / self.seconds if self.seconds > 0 else 0.0


def _warm_up() -> None:
    from karn.text.sentiment import tag_sentiment

    for lang in ("nl", "en"):
        tag_sentiment("warm-up", lang)
        tag_reasons("warm-up", lang)


def retag(
    batch_size: int = 1000,
    limit: int | None = None,
    progress: Callable[[str, int, int, float], None] | None = None,
    max_seconds: float | None = None,
    tier: str = "fast",
    threads: int = 1,
) -> RetagReport:
    """Tag again what another model or list version tagged; commits per batch.

    ``limit`` stops after that many texts, ``max_seconds`` after the batch
    that passes that time (``stopped_early`` then says so). ``progress(kind,
    batch_rows, total_rows, rate)`` is called after each batch. ``tier``
    ``best`` tags with the accurate tier, newest first, also what only the
    fast tier tagged (``threads``: the encoder's).
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
    warmed = False
    started = time.perf_counter()
    best = tier == "best"
    for kind in BEST_KINDS if best else KINDS:
        query, model = _candidates(kind, version, listed.version, best)
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
        last_id = None
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
            page = query
            if last_id is not None:
                page = query.where(
                    _key(model) < last_id if best else _key(model) > last_id
                )
            rows = db.session.execute(page.limit(size)).all()
            if not rows:
                break
            if not warmed:
                # The lexicons (NLTK: slow to import) load once there is text
                # to tag, so a pass with nothing to do stays quick; outside
                # the timing.
                began = time.perf_counter()
                _warm_up()
                started += time.perf_counter() - began
                warmed = True
            now = clock.now()
            params = []
            langs = [getattr(r[2], "value", r[2]) or default_lang for r in rows]
            if best:
                from karn.text import encoder

                made = encoder.tags_for_many(
                    [(r[1], lang) for r, lang in zip(rows, langs, strict=True)],
                    now,
                    reason_model=pinned,
                    competitors=listed,
                    threads=threads,
                )
            else:
                made = [
                    tags_for(r[1], lang, now, reason_model=pinned, competitors=listed)
                    for r, lang in zip(rows, langs, strict=True)
                ]
            for (row_id, text, _lang), tags in zip(rows, made, strict=True):
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


def best_tier_pass(
    max_seconds: float | None = BEST_JOB_SECONDS, threads: int = 1
) -> RetagReport:
    """Tag with the accurate tier for up to ``max_seconds``, newest first."""
    return retag(
        batch_size=BEST_JOB_BATCH, max_seconds=max_seconds, tier="best", threads=threads
    )


def run_best_tier_job(app: Flask) -> bool:
    """The worker's job for the accurate tier; True when nothing is left.

    Does nothing without the encoder (``TEXT_ENCODER`` off or the package
    missing). Never raises.
    """
    from karn.text import encoder

    if not encoder.available(app.config.get("TEXT_ENCODER")):
        return True
    if time.monotonic() < app.extensions.get(_IDLE, 0.0):
        return True
    with app.app_context():
        try:
            report = best_tier_pass(
                threads=int(app.config.get("TEXT_ENCODER_THREADS", 1) or 1)
            )
            if report.total:
                log.info(
                    "tagged %d texts with the accurate tier (%.1f texts/s)",
                    report.total,
                    report.per_second,
                )
            if not report.stopped_early:
                app.extensions[_IDLE] = time.monotonic() + BEST_IDLE_SECONDS
            return not report.stopped_early
        except Exception:
            log.exception("tagging with the accurate tier failed")
            db.session.rollback()
            return False
        finally:
            db.session.remove()
