"""`flask surveys ...`: the default survey and the bounce mailbox.

`flask surveys worker` and `flask surveys dispatch` are the scheduler's, added
by `karn.worker`.
"""

import click
from flask import Flask
from flask.cli import AppGroup

from karn.extensions import db
from karn.surveys import delivery
from karn.surveys.bounce_processing import bounces_command
from karn.surveys.editing import ensure_default_survey

surveys_cli = AppGroup("surveys", help="Send invitations, reminders and other mail.")


@surveys_cli.command("init")
def init():
    """Create the default exit survey (Dutch and English) if there is none yet."""
    survey, created = ensure_default_survey()
    db.session.commit()
    if created:
        click.echo(f"Created the default exit survey, version 1 (survey {survey.id}).")
        # Departures stored before there was a survey are invited now.
        invited = delivery.schedule_missing()
        db.session.commit()
        if invited:
            click.echo(f"Invitations scheduled for {invited} departed customers.")
    else:
        click.echo("A survey exists already; nothing created.")


surveys_cli.add_command(bounces_command)


def register(app: Flask) -> None:
    app.cli.add_command(surveys_cli)
