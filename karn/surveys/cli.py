"""`flask surveys ...`: the worker and one-off dispatch passes."""

import logging

import click
from flask import Flask, current_app
from flask.cli import AppGroup

from karn.extensions import db
from karn.surveys import outbox
from karn.surveys.bounce_processing import bounces_command
from karn.surveys.editing import ensure_default_survey
from karn.surveys.worker import Worker

surveys_cli = AppGroup("surveys", help="Send invitations, reminders and other mail.")


@surveys_cli.command("dispatch")
def dispatch():
    """Do one pass (for cron): send what is due, and print what happened."""
    worker = Worker(current_app._get_current_object())
    report = worker.run_once()
    click.echo(
        f"sent {report.sent}, retried {report.retried}, failed {report.failed}"
        + (f", recovered {report.released}" if report.released else "")
        + (f", uncertain {report.uncertain}" if report.uncertain else "")
    )
    for error in report.errors:
        click.echo(f"  {error}", err=True)
    if not outbox.mail_configured():
        click.echo(
            "No SMTP server is configured (KARN_MAIL_SERVER): mail is held "
            "in the outbox."
        )


@surveys_cli.command("init")
def init():
    """Create the default exit survey (Dutch and English) if there is none yet."""
    survey, created = ensure_default_survey()
    db.session.commit()
    if created:
        click.echo(f"Created the default exit survey, version 1 (survey {survey.id}).")
    else:
        click.echo("A survey exists already; nothing created.")


@surveys_cli.command("worker")
def worker():
    """Run until stopped (SIGTERM finishes the current message, then exits)."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    Worker(current_app._get_current_object()).run_forever()


surveys_cli.add_command(bounces_command)


def register(app: Flask) -> None:
    app.cli.add_command(surveys_cli)
