"""The manager's dashboard: ranking, trends, segments, text, charts and exports."""

import calendar
from collections.abc import Callable
from datetime import date
from urllib.parse import urlencode

import sqlalchemy as sa
from flask import (
    Blueprint,
    Response,
    abort,
    redirect,
    render_template,
    request,
    stream_with_context,
    url_for,
)
from flask_babel import format_date, get_locale
from flask_babel import gettext as _

from karn import clock
from karn.accounts import audit
from karn.accounts.security import MANAGERS, roles_required
from karn.analysis import (
    currencies,
    exports,
    phone,
    queries,
    report,
    sources,
    stated,
    stats,
)
from karn.analysis.filters import (
    REASONS,
    SOURCES,
    WEIGHTS,
    FilterError,
    Filters,
    choice,
    free_text,
)
from karn.analysis.totals import REVENUE_BANDS, TENURE_BANDS
from karn.customers import comments
from karn.customers.currency import reporting as reporting_currency
from karn.customers.models import Customer
from karn.customers.queries import distinct_values
from karn.extensions import db
from karn.formatting import label, number
from karn.surveys.models import SurveyVersion

bp = Blueprint("analysis", __name__, url_prefix="/analysis")

CHARTS = ("ranking", "trend", "pchart", "funnel", "sentiment", "segments")


def _lang() -> str:
    return str(get_locale())


def _filters() -> Filters:
    return Filters.from_args(request.args)


def _weight() -> str:
    return choice(request.args, "weight", WEIGHTS, "count")


def _reason() -> str:
    return choice(request.args, "reason", REASONS, "service")


def _options() -> dict:
    """Values for the filter form's drop-downs."""

    def distinct(column):
        return db.session.scalars(
            sa.select(column)
            .where(column.is_not(None))
            .distinct()
            .order_by(column)
            .limit(100)
        ).all()

    versions = db.session.execute(
        sa.select(SurveyVersion.id, SurveyVersion.number).order_by(SurveyVersion.number)
    ).all()
    return {
        "segments": distinct_values("segment"),
        "plans": distinct_values("plan"),
        "regions": distinct_values("region"),
        "versions": versions,
        "tenure_bands": list(TENURE_BANDS),
        "revenue_bands": list(REVENUE_BANDS),
        "sources": sources.options(),
    }


def month_name(month) -> str:
    """A month ('2025-06') as the reader writes it: 'jun 2025', 'Jun 2025'."""
    text = str(month)
    try:
        day = date(int(text[:4]), int(text[5:7]), 1)
    except ValueError:
        return text
    return format_date(day, "LLL yyyy")


def _chart_url(name: str, fmt: str = "svg", **extra) -> str:
    args = {**_filters().to_args(), **extra, "lang": _lang()}
    return url_for("analysis.chart", name=name, fmt=fmt) + "?" + urlencode(args)


def _labels() -> dict:
    labels = queries.reason_labels_for(_lang())
    return {
        **labels,
        "negative": _("negative"),
        "neutral": _("neutral"),
        "positive": _("positive"),
    }


@bp.context_processor
def _helpers():
    try:
        args = _filters().to_args()
    except FilterError:
        args = {}  # the error page about them
    return {"chart_url": _chart_url, "filter_args": args, "month_name": month_name}


@bp.errorhandler(FilterError)
def _bad_filter(error: FilterError):
    """A parameter with a value it does not take: the 400 page says which."""
    return render_template(
        "errors/400.html", error=error, message=error.description
    ), 400


# Where the trend charts get the improvement actions they mark and list: a
# feature above this one (karn.actions), connected by the app. Each gives
# objects with id, title, reason, started_on and ended_on, oldest first.
_action_sources: list[Callable[[], list]] = []


def mark_actions_from(source: Callable[[], list]) -> None:
    if source not in _action_sources:
        _action_sources.append(source)


def _actions() -> list:
    return [action for source in _action_sources for action in source()]


def _charted_actions(f: Filters, actions: list, reason: str | None = None) -> list:
    """The actions a chart marks: started in the filters' period, by today, and
    aimed at ``reason`` when one is given."""
    until = clock.now().date()
    if f.until:
        until = min(until, f.until)
    return [
        a
        for a in actions
        if a.started_on <= until
        and (f.since is None or a.started_on >= f.since)
        and (reason is None or a.reason.value == reason)
    ]


def _through_month(day: date) -> float:
    """How far through its month a day lies: 0.0 on the first."""
    return (day.day - 1) / calendar.monthrange(day.year, day.month)[1]


@bp.route("/")
@roles_required(*MANAGERS)
def dashboard():
    """Why customers leave: the ranking with intervals, the funnel, the trend."""
    f = _filters()
    weight = _weight()
    ranked, counts = report.ranking(f, weight)
    source = sources.find(f.channel)
    return render_template(
        "analysis/dashboard.html",
        source=source,
        source_name=dict(sources.options()).get(f.channel, ""),
        source_waiting=source.waiting() if source else 0,
        filters=f,
        weight=weight,
        ranking=ranked,
        counts=counts,
        funnel=queries.funnel(f),
        win_backs=phone.win_backs(f),
        involuntary=stated.involuntary(f),
        comments_waiting=comments.waiting() if f.channel == "stated" else 0,
        other_currency=currencies.respondents(f),
        currency=reporting_currency(),
        labels=_labels(),
        options=_options(),
    )


@bp.route("/trends")
@roles_required(*MANAGERS)
def trends():
    """Monthly shares per reason, and a p-chart of one reason with the actions."""
    f = _filters()
    reason = _reason()
    trend = report.trend(f)
    points = report.p_chart(f, reason)
    return render_template(
        "analysis/trends.html",
        filters=f,
        trend=trend,
        points=points,
        reason=reason,
        labels=_labels(),
        options=_options(),
        actions=_actions(),
    )


def _comparison(f: Filters) -> dict:
    """The segments page's choice and its outcome.

    Without a choice (or with groups that are not values of the attribute,
    as after switching "compare by"), the two largest groups are compared.
    """
    attribute = free_text(request.args, "attribute", "segment")
    values = queries.segment_values(attribute)
    if attribute == "source":
        a = choice(request.args, "a", SOURCES, "")
        b = choice(request.args, "b", SOURCES, "")
    else:
        a, b = free_text(request.args, "a"), free_text(request.args, "b")

    def narrowed(value):
        if attribute in ("segment", "plan", "region", "source"):
            return Filters(**{**f.__dict__, attribute: value})
        return Filters(**{**f.__dict__, "extra": f.extra + ((attribute, value),)})

    def counts(value):
        return queries.reason_counts(narrowed(value), secondary=False).counts

    if a not in values or b not in values or a == b:
        # The two largest groups; each counted once for the default only.
        sizes = {value: sum(counts(value).values()) for value in values[:12]}
        largest = sorted(sizes, key=lambda v: (-sizes[v], v))
        a, b = (largest + ["", ""])[:2]
    comparison = None
    if a and b and a != b:
        comparison = stats.compare_segments(counts(a), counts(b))
    return {
        "attribute": attribute,
        "values": values,
        "a": a,
        "b": b,
        "comparison": comparison,
    }


def p_text(p_value: float) -> str:
    """A p-value as a reader sees it: 'p = 0,003', 'p < 0,001' in Dutch."""
    return stats._p_text(p_value, 0.05, _lang())


@bp.route("/segments")
@roles_required(*MANAGERS)
def segments():
    """Two segments side by side, with a chi-square test of their reason mix."""
    f = _filters()
    chosen = _comparison(f)
    comparison = chosen["comparison"]
    attributes = ["segment", "plan", "region", "source", *_extra_attributes()]
    return render_template(
        "analysis/segments.html",
        filters=f,
        attributes=attributes,
        p=p_text(comparison["p_value"])
        if comparison and comparison["p_value"] is not None
        else None,
        labels=_labels(),
        options=_options(),
        **chosen,
    )


def _extra_attributes(limit: int = 500) -> list[str]:
    """Imported attribute names, from a sample of recent customers."""
    rows = db.session.scalars(
        sa.select(Customer.extra).order_by(Customer.id.desc()).limit(limit)
    ).all()
    names = sorted({k for extra in rows if extra for k in extra if k != "demo"})
    return names[:50]


@bp.route("/text")
@roles_required(*MANAGERS)
def text():
    """Sentiment per reason and the most telling comments."""
    f = _filters()
    if source := sources.find(f.channel):
        # A source's own texts are listed on its own page, never among answers.
        return redirect(source.link(f.channel))
    dist = queries.sentiment_by_reason(f)
    telling = queries.quotes(f, list(dist))
    return render_template(
        "analysis/text.html",
        filters=f,
        dist=dist,
        quotes=telling,
        labels=_labels(),
        options=_options(),
    )


@bp.route("/chart/<name>.<fmt>")
@roles_required(*MANAGERS)
def chart(name: str, fmt: str):
    """A chart as PNG or SVG, cached until the data or the filters change."""
    # here: matplotlib is slow to load
    from karn.analysis import charts, periodcharts

    if name not in CHARTS or fmt not in ("png", "svg"):
        abort(404)
    f = _filters()
    lang = _lang()
    reason = _reason()
    weight = _weight()
    size = choice(request.args, "size", charts.SIZES, "wide")
    all_actions = _actions()
    segment_args = tuple(request.args.get(k, "") for k in ("attribute", "a", "b"))
    key = (
        name,
        fmt,
        size,
        segment_args if name == "segments" else (),
        f.key(),
        lang,
        reason,
        weight,
        queries.data_version(),
        sources.version(f.channel),
        # An action added, renamed or moved redraws the charts that mark it.
        clock.now().date(),
        tuple((a.id, a.title, a.started_on, a.reason.value) for a in all_actions),
    )
    labels = _labels()

    def render() -> bytes:
        if name == "ranking":
            ranked, _counts = report.ranking(f, weight)
            return charts.ranking_chart(
                ranked, {**labels, "x_axis": _("share")}, fmt, size
            )
        # Months run without gaps up to the latest marked action, so every
        # action has its month on the axis, answered or not.
        if name in ("trend", "pchart"):
            shown = _charted_actions(
                f, all_actions, reason if name == "pchart" else None
            )
            months = [a.started_on.strftime("%Y-%m") for a in shown]
            rows = report.timeline(f, max(months, default=None))
            actions = [
                (periodcharts.Within(month, _through_month(a.started_on)), a.title)
                for month, a in zip(months, shown, strict=True)
            ]
        if name == "trend":
            return periodcharts.trend_chart(
                report.trend(f, rows), labels, actions, fmt, size, month_name
            )
        if name == "pchart":
            return periodcharts.p_chart_chart(
                report.p_chart(f, reason, rows),
                labels.get(reason, reason),
                actions,
                {
                    "proportion": _("share"),
                    "centre": _("average"),
                    "limits": _("control limits"),
                    "out_of_control": _("unusual month"),
                },
                fmt,
                size,
                month_name,
            )
        if name == "funnel":
            data = queries.funnel(f)
            stages = [
                (s, data[s]) for s in ("departed", "invited", "delivered", "responded")
            ]
            names = {
                "departed": _("departed"),
                "invited": _("invited"),
                "delivered": _("delivered"),
                "responded": _("responded"),
                "x_axis": _("percentages: share of the customers who departed"),
                "lang": lang,
            }
            return charts.funnel_chart(stages, names, fmt, size)
        if name == "segments":
            chosen = _comparison(f)
            shares = []
            if chosen["comparison"]:
                c = chosen["comparison"]
                shares = [
                    (code, c["shares_a"].get(code), c["shares_b"].get(code))
                    for code in REASONS
                    if code in c["shares_a"] or code in c["shares_b"]
                ]
                # Named as on the page: a source in words, other values as is.
                shown = (
                    (lambda v: label(v, "Source"))
                    if chosen["attribute"] == "source"
                    else str
                )
                groups = (
                    f"{shown(chosen['a'])} (n = {number(c['n_a'])})",
                    f"{shown(chosen['b'])} (n = {number(c['n_b'])})",
                )
            else:
                groups = ("", "")
            return charts.segments_chart(
                shares, groups, {**labels, "x_axis": _("share")}, fmt, size
            )
        return charts.sentiment_chart(
            queries.sentiment_by_reason(f), {**labels, "lang": lang}, fmt, size
        )

    body = report.charts_cache.get(key, render)
    mimetype = "image/svg+xml" if fmt == "svg" else "image/png"
    # Like every response to a signed-in user, not stored by the browser.
    return Response(body, mimetype=mimetype)


@bp.route("/export/<what>.<fmt>")
@roles_required(*MANAGERS)
def export(what: str, fmt: str):
    """Responses or the ranking as CSV or XLSX, with the page's filters."""
    if what not in ("responses", "ranking") or fmt not in ("csv", "xlsx"):
        abort(404)
    f = _filters()
    audit.record("analysis.export", what=what, fmt=fmt, **f.to_args())
    db.session.commit()
    if what == "ranking":
        rows = exports.ranking_rows(f, _weight(), _lang())
    else:
        rows = exports.response_rows(f)
    name = f"karn-{what}.{fmt}"
    headers = {"Content-Disposition": f'attachment; filename="{name}"'}
    if fmt == "csv":
        # The rows are read while the response streams, after this function
        # has returned: the request's context goes along with them.
        return Response(
            stream_with_context(exports.csv_chunks(rows)),
            mimetype="text/csv",
            headers=headers,
        )
    return Response(
        exports.xlsx(rows),
        mimetype="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        headers=headers,
    )
