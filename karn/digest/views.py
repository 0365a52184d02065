"""The team digest page, printable, and the same digest as a PDF."""

import base64

from flask import Blueprint, Response, abort, current_app, render_template, request
from flask_babel import get_locale
from flask_babel import gettext as _

from karn.accounts.security import ALL_ROLES, roles_required
from karn.digest import content
from karn.periods import MONTHLY, WEEKLY, Period

bp = Blueprint("digest", __name__)

# Periods offered in the picker, of each kind.
PICKER_LENGTH = 12


def _requested_period() -> tuple[Period, str | None]:
    """The period in ?period=, else the latest complete one; and what was wrong."""
    latest = content.latest_period()
    raw = request.args.get("period", "").strip()
    if not raw:
        return latest, None
    try:
        period = Period.parse(raw)
    except ValueError:
        return latest, _(
            "“%(period)s” is not a period: use 2026-10 for a month or 2026-W43 "
            "for a week.",
            period=raw[:40],
        )
    if period.start > content.local_today():
        return latest, _("That period has not begun yet.")
    return period, None


def _choices(lang: str, current: Period) -> list[tuple[str, list[tuple[str, str]]]]:
    """The picker's options: recent months and weeks, newest first."""
    today = content.local_today()
    groups = []
    for kind, title in ((MONTHLY, _("Months")), (WEEKLY, _("Weeks"))):
        periods = Period.latest_complete(today, kind).recent(PICKER_LENGTH)
        if current.kind == kind and current not in periods:
            periods.insert(0, current)
        options = [(p.key, content.period_label(p, lang)) for p in periods]
        groups.append((title, options))
    if current.kind == WEEKLY:
        groups.reverse()
    return groups


@bp.route("/digest")
@roles_required(*ALL_ROLES)
def index():
    """The digest of one period: reasons, quotes, calls, win-backs, actions."""
    period, error = _requested_period()
    lang = str(get_locale())
    digest = content.build_for(period, lang)
    chart = None
    if digest.reasons:
        svg = content.ranking_chart(digest, "svg")
        chart = "data:image/svg+xml;base64," + base64.b64encode(svg).decode()
    return render_template(
        "digest/index.html",
        digest=digest,
        chart=chart,
        error=error,
        choices=_choices(lang, period),
    )


@bp.route("/digest.pdf", endpoint="pdf")
@roles_required(*ALL_ROLES)
def pdf_file():
    """The same digest as a PDF, in the reader's language."""
    from karn.digest import pdf  # here: fpdf and matplotlib are slow to load

    period, error = _requested_period()
    if error:
        abort(400, description=error)
    digest = content.build_for(period, str(get_locale()))
    chart = content.ranking_chart(digest, "png") if digest.reasons else None
    data = pdf.render(digest, current_app.config["COMPANY_NAME"], chart)
    return Response(
        data,
        mimetype="application/pdf",
        headers={
            "Content-Disposition": f'inline; filename="digest-{period.key}.pdf"',
            "Cache-Control": "private, no-store",
        },
    )
