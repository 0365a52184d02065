"""`flask risk train | models | activate | rollback | score`."""

import getpass
import json

import click
from flask import Flask
from flask.cli import AppGroup, with_appcontext

from karn.extensions import db
from karn.risk import store

risk_cli = AppGroup("risk", help="Churn risk of the current customers.")


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


@risk_cli.command("train")
@with_appcontext
@click.option(
    "--no-activate",
    is_flag=True,
    help="Store the new version only; by default it is used when its AUC is "
    "not worse than the active one's by more than 0.01.",
)
@click.option("--by", help="Who trains, kept with the model (default: you).")
@click.option(
    "--keep",
    multiple=True,
    metavar="COLUMN",
    help="Use this column although it looks as if it tells who has already "
    "left (it is filled in before customers leave); beside RISK_KEEP_COLUMNS.",
)
def train_command(no_activate, by, keep):
    """Train the churn-risk model on all customers and store it as a version.

    Prints the evaluation last, as one JSON line (auc, top_decile_lift,
    calibration_error, validation, n, …).
    """
    from karn.risk import operations, thresholds, training

    try:
        row, activated = operations.train_from_platform(
            by=by or _who(), auto_activate=not no_activate, keep=keep
        )
    except training.TooLittleData as exc:
        click.echo(
            f"Too little data to train: {exc.departed} departed and {exc.active} "
            f"active customers; at least {training.MIN_DEPARTED} of each are needed."
        )
        click.echo(
            json.dumps(
                {
                    "error": "too little data",
                    "departed": exc.departed,
                    "active": exc.active,
                }
            )
        )
        raise SystemExit(1) from None
    except thresholds.NothingToLearn as exc:
        click.echo(
            "Nothing to learn from: every column was left out ("
            + ", ".join(f"{name}: {why}" for name, why in exc.left_out.items())
            + "). Import attributes known before customers leave (plan, "
            "tenure, revenue, …)."
        )
        click.echo(
            json.dumps({"error": "nothing to learn from", "left_out": exc.left_out})
        )
        raise SystemExit(1) from None
    except operations.Busy as exc:
        click.echo(
            f"Another training runs (by {exc.holder or 'unknown'}, since "
            f"{exc.since:%Y-%m-%d %H:%M} UTC); try again when it is done."
            if exc.since
            else "Another training runs; try again when it is done."
        )
        click.echo(json.dumps({"error": "busy", "by": exc.holder}))
        raise SystemExit(1) from None
    click.echo(f"Stored as version {row.version}.")
    if activated:
        click.echo(f"Version {row.version} is in use; `flask risk score` scores now.")
    else:
        current = store.active()
        click.echo(
            f"Version {current.version if current else '—'} stays in use; "
            f"`flask risk activate {row.version}` switches."
        )
    click.echo(json.dumps(row.metrics, ensure_ascii=False, default=str))


@risk_cli.command("models")
@with_appcontext
def models_command():
    """List the churn-risk model versions; * marks the one in use."""
    rows = store.versions()
    if not rows:
        click.echo("No churn-risk model yet: `flask risk train`.")
        return
    click.echo(f"  {'version':>7}  {'created':<16}  {'model':<20}{'AUC':>7}{'lift':>7}")
    for row in rows:
        m = row.metrics or {}
        mark = "* " if row.active else "  "
        click.echo(
            f"{mark}{row.version:>7}  {row.created_at:%Y-%m-%d %H:%M}  "
            f"{m.get('model', '—'):<20}{m.get('auc', 0):>7.3f}"
            f"{m.get('top_decile_lift', 0):>7.2f}"
        )


@risk_cli.command("activate")
@with_appcontext
@click.argument("version", type=click.IntRange(1))
@click.option("--by", help="Who switches (kept in the audit log; default: you).")
def activate_command(version, by):
    """Use churn-risk model VERSION from now on."""
    try:
        store.activate(version, by=by or _who())
    except LookupError:
        raise click.ClickException(
            f"there is no version {version}; `flask risk models` lists them"
        ) from None
    except ValueError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Version {version} is in use; `flask risk score` scores now.")


@risk_cli.command("rollback")
@with_appcontext
@click.option("--by", help="Who switches (kept in the audit log; default: you).")
def rollback_command(by):
    """Go back to the version that was in use before."""
    try:
        row = store.rollback(by=by or _who())
    except LookupError as exc:
        raise click.ClickException(str(exc)) from None
    db.session.commit()
    click.echo(f"Version {row.version} is in use again.")


@risk_cli.command("score")
@with_appcontext
@click.option(
    "--explain",
    type=click.IntRange(0),
    default=None,
    help="Explain this many customers, most revenue at risk first "
    "[default: operations.EXPLAIN_TOP, 1,000].",
)
def score_command(explain):
    """Score every active customer with the model in use."""
    # Here, not at the top: the model code loads numpy, which listing the
    # commands does not need.
    from karn.risk import operations

    if explain is None:
        explain = operations.EXPLAIN_TOP
    report = operations.score_all(explain_top=explain)
    if report.version is None:
        raise click.ClickException("no churn-risk model in use: `flask risk train`")
    click.echo(
        f"{report.scored:,} customers scored with version {report.version}, "
        f"{report.explained:,} explained, in {report.seconds:.1f} s."
    )


def register(app: Flask) -> None:
    app.cli.add_command(risk_cli)
