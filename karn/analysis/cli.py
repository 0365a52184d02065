"""`flask analysis ...`: the ranking on the command line, and rebuilding totals.

The taggers' commands in this group (train, models, activate, retag, evaluate)
are added by `karn.learning.cli`.
"""

import json
import time

import click
from flask import Flask
from flask.cli import AppGroup
from flask_babel import gettext as _

from karn.analysis import funnel, report, totals
from karn.analysis.filters import FilterError
from karn.analysis.queries import Filters, reason_labels_for
from karn.extensions import db

analysis_cli = AppGroup("analysis", help="Reason ranking and text analysis.")


@analysis_cli.command("ranking")
@click.option("--json", "as_json", is_flag=True, help="Print JSON like the API.")
@click.option("--since", help="YYYY-MM-DD")
@click.option("--until", help="YYYY-MM-DD")
@click.option("--by", type=click.Choice(["response", "departure"]), default="response")
@click.option("--weight", type=click.Choice(["count", "revenue"]), default="count")
@click.option(
    "--filter",
    "pairs",
    multiple=True,
    metavar="NAME=VALUE",
    help="segment=MKB, plan=…, region=…, language=nl, segment.<attr>=…",
)
@click.option("--lang", type=click.Choice(["nl", "en"]), default="en")
def ranking(as_json, since, until, by, weight, pairs, lang):
    """The reason ranking with 95% intervals, as the dashboard shows it."""
    args = {"since": since or "", "until": until or "", "by": by}
    for pair in pairs:
        name, _sep, value = pair.partition("=")
        args[name.strip()] = value.strip()
    try:
        filters = Filters.from_args(args)
    except FilterError as exc:
        raise click.BadParameter(exc.description, param_hint="--filter") from None
    data = report.ranking_json(filters, weight)
    if as_json:
        click.echo(json.dumps(data, ensure_ascii=False))
        return
    names = reason_labels_for(lang)
    click.echo(f"n = {data['n']}  (weight: {data['weight']})")
    for row in data["reasons"]:
        if row["share"] is None:
            click.echo(f"  {names[row['reason']]:<32} not shown")
            continue
        flag = "  ≈ next" if row["overlaps_next"] else ""
        revenue = (
            f"  €{row['revenue']:,.0f}/month" if row["revenue"] is not None else ""
        )
        click.echo(
            f"  {names[row['reason']]:<32} {row['count']:>7}  {row['share']:6.1%}"
            f"  [{row['ci_low']:.1%} – {row['ci_high']:.1%}]{revenue}{flag}"
        )


@analysis_cli.command("rebuild-totals")
def rebuild_totals_command():
    """Recompute the dashboard's reason totals, answer facts and funnel totals.

    For after responses were loaded or changed past Karn (SQL, a partial
    restore). Submissions wait until it is done; on SQLite at most 10 s.
    """
    started = time.perf_counter()
    with db.engine.begin() as conn:
        rows = totals.rebuild(conn)
        funnel_rows = funnel.rebuild(conn)
    seconds = time.perf_counter() - started
    click.echo(
        _(
            "Reason totals rebuilt: %(rows)d rows, funnel totals: %(funnel)d rows, "
            "in %(seconds)s s.",
            rows=rows,
            funnel=funnel_rows,
            seconds=f"{seconds:.1f}",
        )
    )


def register(app: Flask) -> None:
    app.cli.add_command(analysis_cli)
