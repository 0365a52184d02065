"""`flask digest ...`: print the team digest, or mail it by hand."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from karn.callbacks.models import DigestRun
from karn.digest import content, mailing
from karn.extensions import db
from karn.periods import Period

digest_cli = AppGroup("digest", help="The team digest: print it, or mail it by hand.")

PERIOD_HELP = (
    "2026-10 for a month, 2026-W43 for a week; the latest complete by default."
)


def _period(text: str | None) -> Period:
    if not text:
        return content.latest_period()
    try:
        return Period.parse(text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--period") from exc


@digest_cli.command("send")
@click.option("--period", help=PERIOD_HELP)
@click.option("--force", is_flag=True, help="Send again, although it went out before.")
def send_command(period: str | None, force: bool) -> None:
    """Mail the digest to every active manager and staff member now."""
    chosen = _period(period)
    sent = mailing.send(chosen, force=force)
    if sent is None:
        run = db.session.get(DigestRun, chosen.start)
        when = f" on {run.created_at:%Y-%m-%d %H:%M} UTC" if run else ""
        click.echo(
            f"The digest for {chosen.key} went out before{when}; "
            "--force sends it again."
        )
        return
    click.echo(f"Digest for {chosen.key} queued for {sent} recipients.")


@digest_cli.command("show")
@click.option("--period", help=PERIOD_HELP)
@click.option(
    "--lang", type=click.Choice(["nl", "en"]), help="DEFAULT_LANGUAGE if not given."
)
def show_command(period: str | None, lang: str | None) -> None:
    """Print the text version of the digest mail."""
    chosen = _period(period)
    mail = mailing.render(chosen, lang or current_app.config["DEFAULT_LANGUAGE"])
    click.echo(mail["subject"])
    click.echo()
    click.echo(mail["body_text"])


def register(app: Flask) -> None:
    app.cli.add_command(digest_cli)
