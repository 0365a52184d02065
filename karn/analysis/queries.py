"""The dashboard's numbers, aggregated in SQL: reasons, trends, funnel, text.

Each function takes `Filters` and returns plain counts for karn.analysis.stats.
A reason's share is counted over the respondents who were shown it; a version
shows every visible option of its main-reason question to every respondent
(in a per-respondent order), so "shown" follows from counting responses per
survey version, in the same GROUP BY as the reasons themselves.
"""

from collections import defaultdict
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from flask import current_app

from karn.analysis import funnel as funnel_totals
from karn.analysis import phone, sources, stated, totals
from karn.analysis.filters import (
    REASONS,
    Filters,
    ReasonCounts,
    _month,
    _month_of_day,
)
from karn.analysis.models import ReasonTotal, ResponseFact
from karn.customers.models import Customer
from karn.customers.queries import DISTINCT_COLUMNS, distinct_values
from karn.extensions import db
from karn.surveys import definition
from karn.surveys.models import (
    Answer,
    Response,
    SurveyVersion,
)
from karn.text.models import TagCorrection


def _responses(f: Filters, *columns, base=None):
    """SELECT over submitted responses (joined to customers when filters need it)."""
    query = sa.select(*columns).select_from(base if base is not None else Response)
    if f.needs_customer:
        query = query.join(Customer, Customer.id == Response.customer_id)
        query = query.where(*f.customer_conditions())
    query = query.where(Response.submitted_at.is_not(None))
    when = Customer.departed_at if f.period_by == "departure" else Response.submitted_at
    query = query.where(*f.period_conditions(when))
    if f.version:
        query = query.where(Response.survey_version_id == f.version)
    if f.language:
        query = query.where(Response.language == f.language)
    return query


def _facts(f: Filters, *columns):
    """SELECT over the facts of the submitted responses f picks."""
    fact = ResponseFact
    query = sa.select(*columns).select_from(fact)
    for key, value in f.extra:
        query = query.where(fact.extra[key].as_string() == value)
    when = fact.submitted_at
    if f.period_by == "departure":
        # By departure date: the responses of known customers only.
        when = fact.departed_at
        query = query.where(when.is_not(None))
    query = query.where(*f.period_conditions(when))
    if f.version:
        query = query.where(fact.survey_version_id == f.version)
    if f.language:
        query = query.where(fact.language == f.language)
    for name in totals.ATTRIBUTES:
        if getattr(f, name):
            query = query.where(getattr(fact, name) == getattr(f, name))
    return query


def shown_reasons(version_id: int) -> frozenset[str]:
    """The reason codes a version's main question shows; versions never change."""
    cache = current_app.extensions.setdefault("karn_shown_reasons", {})
    if version_id not in cache:
        questions = db.session.get(SurveyVersion, version_id).questions
        main = next(
            (
                q
                for q in questions
                if q.get("reason_question")
                and q["type"] == "single_choice"
                and not q.get("hidden")
            ),
            None,
        )
        options = frozenset(o["value"] for o in (main or {}).get("options", []))
        cache[version_id] = options
    return cache[version_id]


def _totals_scope(f: Filters) -> tuple[str, str] | None:
    """The (attribute, value) of the daily totals that answer f, if they can.

    They answer a period, a version, a language and at most one of: the
    customer attributes they are kept for ('' for none) and a period by
    departure date. Anything else (imported attributes, two of those at once,
    or a filter added later) is counted from the responses.
    """
    given = [(a, getattr(f, a)) for a in totals.ATTRIBUTES if getattr(f, a)]
    if f.period_by == "departure":
        given.append((totals.DEPARTED, ""))
    rest = replace(
        f,
        since=None,
        until=None,
        period_by="response",
        version=None,
        language=None,
        **dict.fromkeys(totals.ATTRIBUTES),
    )
    if rest != Filters() or len(given) > 1:
        return None
    return given[0] if given else ("", "")


def _totals(f: Filters, scope: tuple[str, str], *columns):
    """SELECT over the daily totals of this scope, within f's period and version."""
    attribute, value = scope
    query = sa.select(*columns).where(
        ReasonTotal.attribute == attribute, ReasonTotal.value == value
    )
    if f.since:
        query = query.where(ReasonTotal.day >= f.since)
    if f.until:
        query = query.where(ReasonTotal.day <= f.until)
    if f.version:
        query = query.where(ReasonTotal.survey_version_id == f.version)
    if f.language:
        query = query.where(ReasonTotal.language == f.language)
    return query


def _reason_rows(f: Filters, secondary: bool) -> tuple[list, list]:
    """(version, reason, count, revenue, lifetime value) rows and (reason, count)
    rows of secondary mentions, from the daily totals when they can answer."""
    scope = _totals_scope(f)
    if scope is not None:
        query = _totals(
            f,
            scope,
            ReasonTotal.is_secondary,
            ReasonTotal.survey_version_id,
            ReasonTotal.reason,
            sa.func.sum(ReasonTotal.n),
            sa.func.sum(ReasonTotal.monthly_revenue),
            sa.func.sum(ReasonTotal.lifetime_value),
        ).group_by(
            ReasonTotal.is_secondary, ReasonTotal.survey_version_id, ReasonTotal.reason
        )
        if not secondary:
            query = query.where(ReasonTotal.is_secondary.is_(False))
        main, mentions = [], []
        for is_secondary, version_id, code, count, money, value in db.session.execute(
            query
        ):
            if is_secondary:
                mentions.append((code, int(count)))
            else:
                main.append((version_id, code, int(count), money, value))
        return main, mentions
    # One pass over the facts the filters pick: the main reasons, and the
    # mentions from each fact's bits of "also played a part".
    fact = ResponseFact
    bits = totals.ALSO_BITS if secondary else {}
    query = _facts(
        f,
        fact.survey_version_id,
        fact.reason,
        sa.func.count(),
        sa.func.sum(fact.monthly_revenue),
        sa.func.sum(fact.lifetime_value),
        *(
            sa.func.sum(sa.case((fact.also.op("&")(bit) != 0, 1), else_=0))
            for bit in bits.values()
        ),
    ).group_by(fact.survey_version_id, fact.reason)
    main, also = [], defaultdict(int)
    for version_id, code, count, money, value, *mentioned in db.session.execute(query):
        if code is not None:
            main.append((version_id, code, count, money, value))
        for reason, n in zip(bits, mentioned, strict=True):
            also[reason] += int(n or 0)
    return main, [(code, n) for code, n in also.items() if n]


def reason_counts(f: Filters, secondary: bool = True) -> ReasonCounts:
    """Counts for the ranking: from the daily totals, or one GROUP BY over
    responses and one over mentions when the filters need the responses."""
    if f.channel == "phone":
        return phone.reason_counts(f)
    if f.channel == "stated":
        return stated.reason_counts(f)
    if source := sources.find(f.channel):
        result = ReasonCounts()
        rows = [(r, n, None, None) for r, n in source.reason_rows(f, f.channel)]
        result.n = sum(n for _r, n, _m, _v in rows)
        result.add_reasons(rows)
        return result
    result = ReasonCounts()
    main, mentions = _reason_rows(f, secondary)
    per_version: dict[int, int] = defaultdict(int)
    for version_id, code, count, money, value in main:
        if not count:
            continue
        result.counts[code] = result.counts.get(code, 0) + count
        per_version[version_id] += count
        # A reason nobody with a known revenue gave has revenue 0.
        result.monthly_revenue[code] = result.monthly_revenue.get(code, 0) + float(
            money or 0
        )
        result.lifetime_value[code] = result.lifetime_value.get(code, 0) + float(
            value or 0
        )
    result.n = sum(per_version.values())
    for version_id, count in per_version.items():
        for code in shown_reasons(version_id):
            result.shown[code] = result.shown.get(code, 0) + count
    for code, count in mentions:
        if count:
            result.secondary[code] = result.secondary.get(code, 0) + count
    return result


def monthly_counts(f: Filters) -> list[tuple[str, dict[str, int], dict[str, int]]]:
    """(month, counts, shown) in month order, for trends and p-charts."""
    if f.channel == "phone":
        return phone.monthly_counts(f)
    if f.channel == "stated":
        return stated.monthly_counts(f)
    if source := sources.find(f.channel):
        counts = source.monthly_rows(f, f.channel)
        return [
            (m, counts[m], dict.fromkeys(REASONS, sum(counts[m].values())))
            for m in sorted(counts)
        ]
    scope = _totals_scope(f)
    if scope is not None:
        month = _month_of_day(ReasonTotal.day)
        query = (
            _totals(
                f,
                scope,
                month,
                ReasonTotal.survey_version_id,
                ReasonTotal.reason,
                sa.func.sum(ReasonTotal.n),
            )
            .where(ReasonTotal.is_secondary.is_(False))
            .group_by(month, ReasonTotal.survey_version_id, ReasonTotal.reason)
        )
        rows = [(m, v, code, int(c)) for m, v, code, c in db.session.execute(query)]
    else:
        month = _month(
            ResponseFact.departed_at
            if f.period_by == "departure"
            else ResponseFact.submitted_at
        )
        query = (
            _facts(
                f,
                month,
                ResponseFact.survey_version_id,
                ResponseFact.reason,
                sa.func.count(),
            )
            .where(ResponseFact.reason.is_not(None))
            .group_by(month, ResponseFact.survey_version_id, ResponseFact.reason)
        )
        rows = list(db.session.execute(query))
    counts: dict[str, dict[str, int]] = defaultdict(dict)
    shown: dict[str, dict[str, int]] = defaultdict(dict)
    for m, version_id, code, count in rows:
        if not count:
            continue
        counts[m][code] = counts[m].get(code, 0) + count
        for option in shown_reasons(version_id):
            shown[m][option] = shown[m].get(option, 0) + count
    return [(m, counts[m], shown[m]) for m in sorted(counts)]


def _funnel_scope(f: Filters) -> tuple[str, str] | None:
    """The (attribute, value) of the funnel's totals that answer f, if they can:
    at most one of the attributes they are kept for, and no imported one."""
    given = [(a, getattr(f, a)) for a in totals.ATTRIBUTES if getattr(f, a)]
    if f.extra or len(given) > 1:
        return None
    return given[0] if given else ("", "")


def funnel(f: Filters) -> dict[str, Any]:
    """Departed -> invited -> delivered -> responded, with bounces and unsubscribes,
    of the customers f picks by departure date (the version, language and
    response period do not narrow it): from the funnel's totals, or summed
    from its cells when the totals cannot answer."""
    scope = _funnel_scope(f)
    if scope is not None:
        query = funnel_totals.counts(scope, f.since, f.until)
    else:
        values = {a: getattr(f, a) for a in totals.ATTRIBUTES if getattr(f, a)}
        query = funnel_totals.cell_counts(values, f.extra, f.since, f.until)
    # PostgreSQL sums a bigint as a numeric; no rows sum to NULL.
    row = {k: int(v or 0) for k, v in db.session.execute(query).one()._mapping.items()}
    after = {r: row.pop(f"after_{r}") for r in range(3)}
    return {**row, "after_reminder": after}


def sentiment_by_reason(f: Filters) -> dict[str, dict[str, int]]:
    """Counts of negative/neutral/positive free-text answers per main reason."""
    query = (
        _facts(f, ResponseFact.reason, Answer.sentiment, sa.func.count())
        .join(Answer, Answer.response_id == ResponseFact.response_id)
        .where(Answer.sentiment.is_not(None), ResponseFact.reason.is_not(None))
        .group_by(ResponseFact.reason, Answer.sentiment)
    )
    result: dict[str, dict[str, int]] = defaultdict(dict)
    for reason, sentiment, count in db.session.execute(query):
        result[reason][sentiment.value] = count
    return {code: result[code] for code in REASONS if code in result}


# What a quote shows, with the tags for the correction form beside it.
_QUOTE_COLUMNS = (
    Answer.text,
    Answer.sentiment_score,
    ResponseFact.response_id,
    ResponseFact.submitted_at,
    ResponseFact.language,
    ResponseFact.customer_id,
    Answer.id,
    Answer.sentiment,
    Answer.tag_reason,
    Answer.tags,
)


def quotes(
    f: Filters, reasons: list[str], per_side: int = 3
) -> dict[str, dict[str, list[dict]]]:
    """Per reason, its most negative and most positive comments, newest first."""
    # The filters test each candidate's facts: one narrow row, where the
    # response and its customer would be two lookups.
    base = _facts(f, *_QUOTE_COLUMNS)
    base = base.join(Answer, Answer.response_id == ResponseFact.response_id).where(
        Answer.text.is_not(None), Answer.sentiment_score.is_not(None)
    )
    if _totals_scope(f) is not None or db.engine.dialect.name != "postgresql":
        return {
            reason: _walk_quotes(base.where(ResponseFact.reason == reason), per_side)
            for reason in reasons
        }
    # A filter the totals cannot answer often keeps few answers. PostgreSQL
    # would then read every scored answer once per reason and side instead
    # of walking the index of scores, so rank those few, every reason and
    # side in one statement; only the answers' ids are ranked, the texts are
    # read for the few that make the cut. SQLite walks the index and stops
    # early either way.
    negative = Answer.sentiment_score < 0
    rank = sa.func.row_number().over(
        partition_by=(ResponseFact.reason, negative),
        order_by=(
            sa.func.abs(Answer.sentiment_score).desc(),
            ResponseFact.submitted_at.desc(),
        ),
    )
    ranked = (
        base.with_only_columns(
            Answer.id.label("answer_id"),
            ResponseFact.reason.label("reason"),
            negative.label("negative"),
            rank.label("rank"),
        )
        .where(Answer.sentiment_score != 0, ResponseFact.reason.in_(reasons))
        .subquery()
    )
    top = (
        sa.select(*_QUOTE_COLUMNS, ranked.c.reason, ranked.c.negative)
        .select_from(ranked)
        .join(Answer, Answer.id == ranked.c.answer_id)
        .join(ResponseFact, ResponseFact.response_id == Answer.response_id)
        .where(ranked.c.rank <= per_side)
        .order_by(ranked.c.rank)
    )
    out = {reason: {"negative": [], "positive": []} for reason in reasons}
    for *row, reason, is_negative in db.session.execute(top):
        out[reason]["negative" if is_negative else "positive"].append(_quote(row))
    return out


def _quote(row) -> dict:
    text, score, rid, when, lang, cid, aid, sentiment, tag_reason, tags = row
    return {
        "text": text,
        "score": score,
        "response_id": rid,
        "submitted_at": when,
        "language": lang,
        "customer_id": cid,
        "answer_id": aid,
        "sentiment": sentiment,
        "tag_reason": tag_reason,
        "tags": tags,
    }


def _walk_quotes(base, per_side: int) -> dict[str, list[dict]]:
    """The top of each side along the index of scores (ix_answers_score)."""
    out = {}
    for side, order, cond in (
        ("negative", Answer.sentiment_score.asc(), Answer.sentiment_score < 0),
        ("positive", Answer.sentiment_score.desc(), Answer.sentiment_score > 0),
    ):
        if db.engine.dialect.name == "postgresql":
            # Ordered by the score alone, PostgreSQL walks ix_answers_score and
            # stops early; with the tie-break it would sort every match. Rows
            # tied at the cut come along and are put newest first here.
            query = base.where(cond).order_by(order).fetch(per_side, with_ties=True)
            rows = db.session.execute(query).all()
            rows.sort(key=lambda row: row.submitted_at, reverse=True)
            rows.sort(key=lambda row: row.sentiment_score, reverse=side == "positive")
            rows = rows[:per_side]
        else:
            rows = db.session.execute(
                base.where(cond)
                .order_by(order, ResponseFact.submitted_at.desc())
                .limit(per_side)
            ).all()
        out[side] = [_quote(row) for row in rows]
    return out


def data_version() -> tuple:
    """Changes whenever an answer is submitted or a tag corrected: the key that
    expires cached charts."""
    # Scalar subqueries: each is one index lookup, where a single SELECT of
    # the maxima makes SQLite scan the table.
    return tuple(
        db.session.execute(
            sa.select(
                sa.select(sa.func.max(Response.submitted_at)).scalar_subquery(),
                sa.select(sa.func.max(Response.id)).scalar_subquery(),
                sa.select(sa.func.max(TagCorrection.id)).scalar_subquery(),
            )
        ).one()
    )


def segment_values(attribute: str, limit: int = 200) -> list[str]:
    """The values of a customer attribute, for the segment comparison pickers."""
    if attribute in DISTINCT_COLUMNS:
        # Hops through the column's index instead of reading every customer.
        return distinct_values(attribute, limit)
    if attribute == "source":
        column = Customer.source
    else:
        column = Customer.extra[attribute].as_string()
    query = (
        sa.select(column)
        .where(column.is_not(None))
        .distinct()
        .order_by(column)
        .limit(limit)
    )
    return [
        str(v.value if hasattr(v, "value") else v) for v in db.session.scalars(query)
    ]


def reason_labels_for(lang: str) -> dict[str, str]:
    """The reason names of PRODUCT.md in one language."""
    return {code: definition.REASON_LABELS[code][lang] for code in REASONS}
