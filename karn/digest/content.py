"""What the team digest says about one period, as plain data in one language.

build() gathers the period's reason ranking with the change since the period
before, telling quotes from surveys and calls, call outcomes per staff member,
win-backs and the improvement actions with their measured effect. Every figure
comes with its text already formatted for the reader, so the page, the mail
and the PDF cannot disagree.

Days are calendar days in the company's time zone (TIMEZONE), where the
dashboard counts UTC days; an action's effect is the one the actions page
shows, measured up to the end of the period.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import sqlalchemy as sa
from babel.dates import format_date, format_interval
from babel.numbers import format_currency, format_decimal, format_percent
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from karn import clock, settings
from karn.accounts.models import User
from karn.actions import effect as actions
from karn.actions.models import ImprovementAction
from karn.analysis import queries, report, stats
from karn.analysis.filters import Filters
from karn.callbacks.models import CallNote, CallNoteReason, WinBack
from karn.customers import currency as currencies
from karn.customers.models import Customer
from karn.digest import controlled
from karn.extensions import db
from karn.formatting import OUTCOME_LABELS
from karn.periods import MONTHLY, OFF, WEEKLY, Period, parse_frequency

# A change in a share counts as significant below this p-value.
ALPHA = 0.05
# Survey quotes are shown for this many of the most frequent reasons ...
QUOTED_REASONS = 3
# ... one most negative and one most positive comment each.
QUOTES_PER_SIDE = 1
# Call notes quoted: the most negative and the most positive, this many each.
CALL_QUOTES_PER_SIDE = 2

# Section headings, the same on the page, in the mail and in the PDF.
HEADINGS = {
    "ranking": _l("Why customers left"),
    "survey_quotes": _l("In their own words: survey comments"),
    "call_quotes": _l("Heard on the phone"),
    "calls": _l("Calls per staff member"),
    "win_backs": _l("Won back"),
    "actions": _l("Improvement actions and their effect"),
    "keep_calls": _l("Keep calls against their control groups"),
    "win_back_mails": _l("Follow-ups and campaigns against their control groups"),
}


@dataclass(frozen=True)
class _LocalDays(Filters):
    """Filters whose since and until are days in the company's time zone."""

    timezone: str = "UTC"

    def period_conditions(self, column) -> list:
        zone = ZoneInfo(self.timezone)
        conds = []
        if self.since:
            conds.append(column >= datetime.combine(self.since, time.min, tzinfo=zone))
        if self.until:
            end = datetime.combine(self.until + timedelta(days=1), time.min, zone)
            conds.append(column < end)
        return conds


@dataclass(frozen=True)
class ReasonLine:
    """One reason in the period's ranking, against the period before."""

    reason: str
    label: str
    count: int
    shown: int
    share: float
    previous_count: int
    previous_shown: int
    previous_share: float | None
    # share - previous share, and the two-proportion test's p-value; None when
    # the period before had nobody who was shown the reason.
    change: float | None
    p_value: float | None
    significant: bool | None
    share_text: str
    previous_text: str
    change_text: str
    # In plain words: whether the change is likely to be real.
    significance: str


@dataclass(frozen=True)
class Quote:
    """A comment from a survey answer or a call note, with its sentiment score."""

    text: str
    score: float
    date_text: str
    # Calls: who phoned and the reasons they heard.
    author: str | None = None
    reasons_text: str = ""


@dataclass(frozen=True)
class ReasonQuotes:
    reason: str
    label: str
    negative: list[Quote]
    positive: list[Quote]


@dataclass(frozen=True)
class StaffCalls:
    """One person's calls in the period: how they went, and what was heard."""

    name: str
    # Every outcome code, in OUTCOME_LABELS order, with its count.
    outcomes: dict[str, int]
    total: int
    reasons: list[tuple[str, int]]
    reasons_text: str


@dataclass(frozen=True)
class ActionLine:
    """An improvement action running in the period and its measured effect."""

    title: str
    reason: str
    label: str
    owner: str | None
    started_on: date
    ended_on: date | None
    started_text: str
    ended_text: str
    # (count, shown) of the targeted reason before and after the start.
    before: tuple[int, int]
    after: tuple[int, int]
    kind: str
    verdict: str


@dataclass(frozen=True)
class Digest:
    """Everything the digest of one period shows, in one language."""

    period: Period
    previous: Period
    lang: str
    timezone: str
    title: str
    label: str
    previous_label: str
    dates_text: str
    # False while the period is still running: its figures are not final.
    complete: bool
    respondents: int
    previous_respondents: int
    ranking: stats.Ranking
    reasons: list[ReasonLine]
    survey_quotes: list[ReasonQuotes]
    call_negative: list[Quote]
    call_positive: list[Quote]
    outcome_labels: list[tuple[str, str]]
    calls: list[StaffCalls]
    call_totals: dict[str, int]
    calls_total: int
    win_backs: int
    win_backs_by_call: int
    win_back_revenue: Decimal
    actions: list[ActionLine]
    # Headings and one-line summaries in the digest's language.
    headings: dict[str, str]
    respondents_text: str
    calls_text: str
    win_backs_text: str
    reason_labels: dict[str, str]
    keep_calls: list = field(default_factory=list)
    win_back_mails: list = field(default_factory=list)


def timezone() -> str:
    """The company's time zone, as the Settings page may have changed it."""
    return str(settings.get("TIMEZONE"))


def local_today() -> date:
    return clock.now().astimezone(ZoneInfo(timezone())).date()


def frequency() -> str:
    """DIGEST_FREQUENCY: 'monthly', 'weekly' or 'off'."""
    return parse_frequency(current_app.config["DIGEST_FREQUENCY"])


def period_kind() -> str:
    """The kind of period the page offers: the mailed one, monthly when off."""
    kind = frequency()
    return MONTHLY if kind == OFF else kind


def latest_period() -> Period:
    """The latest complete period of the configured kind."""
    return Period.latest_complete(local_today(), period_kind())


def period_label(period: Period, lang: str) -> str:
    """'October 2026', 'Week 43, 2026 (Oct 19 – 25)', in the language given."""
    with force_locale(lang):
        if period.kind == MONTHLY:
            return format_date(period.start, "LLLL y", locale=lang)
        if period.kind == WEEKLY:
            year, week, _day = period.start.isocalendar()
            days = format_interval(period.start, period.end, "MMMd", locale=lang)
            return _(
                "Week %(week)s, %(year)s (%(days)s)", week=week, year=year, days=days
            )
        return format_interval(period.start, period.end, "yMMMd", locale=lang)


def build(period_start: date, period_end: date, lang: str) -> Digest:
    """The digest of the days from period_start to period_end, in nl or en."""
    return build_for(Period.from_days(period_start, period_end), lang)


def build_for(period: Period, lang: str) -> Digest:
    """The digest of a period, in nl or en."""
    if lang not in ("nl", "en"):
        raise ValueError(f"unsupported language: {lang!r}")
    with force_locale(lang):
        return _Builder(period, lang).build()


class _Builder:
    """Gathers the digest's parts; formatting helpers know the language."""

    def __init__(self, period: Period, lang: str):
        self.period = period
        self.previous = period.previous()
        self.lang = lang
        self.tz = timezone()
        self.zone = ZoneInfo(self.tz)
        self.today = local_today()
        self.labels = queries.reason_labels_for(lang)
        self.filters = _LocalDays(
            since=period.start, until=period.end, timezone=self.tz
        )
        self.start, self.end = period.bounds(self.tz)

    # Formatting, in the reader's language.

    def percent(self, value: float | None) -> str:
        return "—" if value is None else format_percent(value, locale=self.lang)

    def points(self, change: float | None) -> str:
        if change is None:
            return "—"
        value = round(change * 100)
        sign = "+" if value > 0 else "−" if value < 0 else "±"
        number = format_decimal(abs(value), locale=self.lang)
        return _("%(points)s pp", points=f"{sign}{number}")

    def day(self, value: date | datetime) -> str:
        if isinstance(value, datetime):
            value = value.astimezone(self.zone).date()
        return format_date(value, "d MMM y", locale=self.lang)

    def integer(self, value: int) -> str:
        return format_decimal(value, locale=self.lang)

    def money(self, value: Decimal | float) -> str:
        return format_currency(value, currencies.reporting(), locale=self.lang)

    def count_list(self, pairs: list[tuple[str, int]]) -> str:
        return ", ".join(f"{label} {self.integer(n)}" for label, n in pairs)

    # The parts.

    def build(self) -> Digest:
        ranking, respondents, previous_respondents, reasons = self.ranking()
        negative, positive = self.call_quotes()
        calls, totals = self.calls()
        won, by_call, revenue, other = self.win_backs()
        label = period_label(self.period, self.lang)
        return Digest(
            period=self.period,
            previous=self.previous,
            lang=self.lang,
            timezone=self.tz,
            title=_("Team digest: %(period)s", period=label),
            label=label,
            previous_label=period_label(self.previous, self.lang),
            dates_text=f"{self.day(self.period.start)} – {self.day(self.period.end)}",
            complete=self.period.end < self.today,
            respondents=respondents,
            previous_respondents=previous_respondents,
            ranking=ranking,
            reasons=reasons,
            survey_quotes=self.survey_quotes(ranking),
            call_negative=negative,
            call_positive=positive,
            outcome_labels=[(o.value, str(text)) for o, text in OUTCOME_LABELS.items()],
            calls=calls,
            call_totals=totals,
            calls_total=sum(totals.values()),
            win_backs=won,
            win_backs_by_call=by_call,
            win_back_revenue=revenue,
            actions=self.actions(),
            headings={key: str(text) for key, text in HEADINGS.items()},
            respondents_text=_(
                "Respondents: %(n)s (in %(previous)s: %(m)s).",
                n=self.integer(respondents),
                previous=period_label(self.previous, self.lang),
                m=self.integer(previous_respondents),
            ),
            calls_text=(
                _("Calls logged: %(n)s.", n=self.integer(sum(totals.values())))
                if totals and sum(totals.values())
                else _("No calls were logged in this period.")
            ),
            win_backs_text=(
                _(
                    "Customers won back: %(n)s, of whom %(calls)s after a call; "
                    "revenue regained: %(revenue)s a month.",
                    n=self.integer(won),
                    calls=self.integer(by_call),
                    revenue=self.money(revenue),
                )
                if won
                else _("No customer was marked as won back in this period.")
            )
            + (
                " "
                + _(
                    "%(n)s customers in other currencies not counted: revenue "
                    "is summed in %(currency)s only.",
                    n=self.integer(other),
                    currency=currencies.reporting(),
                )
                if other
                else ""
            ),
            reason_labels=self.labels,
            **controlled.sections(self.start, self.end, self.lang, self.day),
        )

    def ranking(self):
        """The ranking by share, and each share against the period before."""
        now = queries.reason_counts(self.filters, secondary=False)
        before = queries.reason_counts(
            replace(self.filters, since=self.previous.start, until=self.previous.end),
            secondary=False,
        )
        shown_now = {code: n for code, n in now.shown.items() if n}
        ranking = stats.rank_reasons(now.counts, shown_now)
        # A reason nobody gave in either period has nothing to tell the team.
        ranking = replace(
            ranking,
            reasons=[
                row
                for row in ranking.reasons
                if row.count or before.counts.get(row.reason)
            ],
        )
        lines = []
        for row in ranking.reasons:
            x1, n1 = before.counts.get(row.reason, 0), before.shown.get(row.reason, 0)
            change = p_value = significant = None
            if n1:
                test = stats.two_proportion_test(x1, n1, row.count, row.shown)
                change, p_value = test["difference"], test["p_value"]
                significant = p_value < ALPHA
            lines.append(
                ReasonLine(
                    reason=row.reason,
                    label=self.labels.get(row.reason, row.reason),
                    count=row.count,
                    shown=row.shown,
                    share=row.share,
                    previous_count=x1,
                    previous_shown=n1,
                    previous_share=x1 / n1 if n1 else None,
                    change=change,
                    p_value=p_value,
                    significant=significant,
                    share_text=self.percent(row.share),
                    previous_text=self.percent(x1 / n1 if n1 else None),
                    change_text=self.points(change),
                    significance=self.significance(p_value),
                )
            )
        return ranking, now.n, before.n, lines

    def significance(self, p_value: float | None) -> str:
        if p_value is None:
            return _("No comparison: nobody answered in the period before.")
        # stats words p-values the same way in the actions' verdicts.
        p = stats._p_text(p_value, ALPHA, self.lang)
        if p_value < ALPHA:
            return _("Significant: unlikely to be chance (%(p)s).", p=p)
        return _("Not significant: could well be chance (%(p)s).", p=p)

    def survey_quotes(self, ranking: stats.Ranking) -> list[ReasonQuotes]:
        """The most negative and most positive comment for each top reason."""
        result = []
        top = [row for row in ranking.reasons if row.count][:QUOTED_REASONS]
        quoted = queries.quotes(
            self.filters, [row.reason for row in top], per_side=QUOTES_PER_SIDE
        )
        for row in top:
            found = quoted[row.reason]
            if not found["negative"] and not found["positive"]:
                continue
            result.append(
                ReasonQuotes(
                    reason=row.reason,
                    label=self.labels.get(row.reason, row.reason),
                    negative=[self._survey_quote(q) for q in found["negative"]],
                    positive=[self._survey_quote(q) for q in found["positive"]],
                )
            )
        return result

    def _survey_quote(self, found: dict) -> Quote:
        return Quote(
            text=found["text"].strip(),
            score=found["score"],
            date_text=self.day(found["submitted_at"]),
        )

    def _in_period(self):
        return sa.and_(
            CallNote.created_at >= self.start, CallNote.created_at < self.end
        )

    def call_quotes(self) -> tuple[list[Quote], list[Quote]]:
        """The most negative and the most positive call notes of the period."""
        score = CallNote.sentiment_score
        base = (
            sa.select(CallNote)
            .where(
                self._in_period(),
                CallNote.text.is_not(None),
                CallNote.text != "",
                score.is_not(None),
            )
            .options(selectinload(CallNote.reasons), selectinload(CallNote.author))
            .limit(CALL_QUOTES_PER_SIDE)
        )
        sides = []
        for condition, order in ((score < 0, score.asc()), (score > 0, score.desc())):
            notes = db.session.scalars(
                base.where(condition).order_by(order, CallNote.created_at.desc())
            ).all()
            sides.append([self._call_quote(note) for note in notes])
        return sides[0], sides[1]

    def _call_quote(self, note: CallNote) -> Quote:
        heard = sorted(
            (r.reason.value for r in note.reasons), key=stats.REASON_ORDER.index
        )
        return Quote(
            text=note.text.strip(),
            score=note.sentiment_score,
            date_text=self.day(note.created_at),
            author=note.author.name if note.author else _("a former colleague"),
            reasons_text=", ".join(self.labels[code] for code in heard),
        )

    def calls(self) -> tuple[list[StaffCalls], dict[str, int]]:
        """Outcomes and reasons heard per author, counted in SQL."""
        outcomes: dict[int | None, dict[str, int]] = defaultdict(dict)
        rows = db.session.execute(
            sa.select(CallNote.author_id, CallNote.outcome, sa.func.count())
            .where(self._in_period())
            .group_by(CallNote.author_id, CallNote.outcome)
        )
        for author, outcome, n in rows:
            outcomes[author][outcome.value] = n
        heard: dict[int | None, dict[str, int]] = defaultdict(dict)
        rows = db.session.execute(
            sa.select(CallNote.author_id, CallNoteReason.reason, sa.func.count())
            .join(CallNoteReason, CallNoteReason.note_id == CallNote.id)
            .where(self._in_period())
            .group_by(CallNote.author_id, CallNoteReason.reason)
        )
        for author, reason, n in rows:
            heard[author][reason.value] = n
        ids = [author for author in outcomes if author is not None]
        names = dict(
            db.session.execute(
                sa.select(User.id, User.name).where(User.id.in_(ids))
            ).all()
        )
        codes = [o.value for o in OUTCOME_LABELS]
        staff = []
        for author, counts in outcomes.items():
            reasons = sorted(
                ((code, n) for code, n in heard[author].items()),
                key=lambda item: (-item[1], stats.REASON_ORDER.index(item[0])),
            )
            labelled = [(self.labels[code], n) for code, n in reasons]
            staff.append(
                StaffCalls(
                    name=names.get(author) or _("a former colleague"),
                    outcomes={code: counts.get(code, 0) for code in codes},
                    total=sum(counts.values()),
                    reasons=labelled,
                    reasons_text=self.count_list(labelled),
                )
            )
        staff.sort(key=lambda s: (-s.total, s.name.lower()))
        totals = {code: sum(s.outcomes[code] for s in staff) for code in codes}
        return staff, totals

    def win_backs(self) -> tuple[int, int, Decimal, int]:
        """Won back in the period: all, by phone, revenue, other currency (unsummed)."""
        count, by_call, revenue, others = db.session.execute(
            sa.select(
                sa.func.count(WinBack.id),
                sa.func.count(WinBack.id).filter(WinBack.via == "call"),
                sa.func.sum(WinBack.revenue).filter(currencies.counted()),
                sa.func.count(WinBack.id).filter(currencies.other()),
            )
            .select_from(WinBack)
            .join(Customer, Customer.id == WinBack.customer_id)
            .where(WinBack.returned_on.between(self.period.start, self.period.end))
        ).one()
        return count, by_call, Decimal(revenue or 0), others

    def actions(self) -> list[ActionLine]:
        """Actions running at some time in the period, measured up to its end."""
        found = db.session.scalars(
            sa.select(ImprovementAction)
            .where(
                ImprovementAction.started_on <= self.period.end,
                sa.or_(
                    ImprovementAction.ended_on.is_(None),
                    ImprovementAction.ended_on >= self.period.start,
                ),
            )
            .order_by(ImprovementAction.started_on, ImprovementAction.id)
            .options(selectinload(ImprovementAction.owner))
        ).all()
        today = min(self.period.end, self.today)
        lines = []
        for action in found:
            effect = actions.effect(action, None, today)
            label = self.labels.get(effect.reason, effect.reason)
            lines.append(
                ActionLine(
                    title=action.title,
                    reason=effect.reason,
                    label=label,
                    owner=action.owner.name if action.owner else None,
                    started_on=action.started_on,
                    ended_on=action.ended_on,
                    started_text=self.day(action.started_on),
                    ended_text=self.day(action.ended_on) if action.ended_on else "",
                    before=effect.before,
                    after=effect.after,
                    kind=effect.assessment["kind"],
                    verdict=effect.verdict(self.lang, label),
                )
            )
        return lines


def ranking_chart(digest: Digest, fmt: str = "png") -> bytes:
    """The period's ranking as a bar chart with intervals, in the digest's language."""
    with force_locale(digest.lang):
        axis = _("Share of respondents")
    labels = {**digest.reason_labels, "lang": digest.lang, "x_axis": axis}
    # Keyed by the counts themselves: the same ranking draws the same chart.
    key = (
        "digest-ranking",
        fmt,
        digest.lang,
        tuple((r.reason, r.count, r.shown) for r in digest.ranking.reasons),
    )
    from karn.analysis import charts  # here: matplotlib is slow to load

    return report.charts_cache.get(
        key, lambda: charts.ranking_chart(digest.ranking, labels, fmt)
    )
