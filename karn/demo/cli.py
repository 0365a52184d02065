"""`flask demo seed`. The demo's code is imported when the command runs: it
pulls in most of Karn, which no other command needs at start-up."""

import time

import click
from flask import Flask
from flask.cli import AppGroup

from karn.demo.common import ACTION_TITLE, DEMO_LOGINS, DemoError

demo_cli = AppGroup("demo", help="A labelled demo data set, for trying Karn out.")


@demo_cli.command("seed")
@click.option("--customers", default=4000, show_default=True, type=int)
@click.option("--months", default=18, show_default=True, type=int)
@click.option("--seed", default=7, show_default=True, type=int)
@click.option(
    "--active",
    default=6000,
    show_default=True,
    type=int,
    help="Current customers, with a planted churn-risk pattern (0: none).",
)
def seed_command(customers: int, months: int, seed: int, active: int) -> None:
    """Fill an EMPTY database with invented departures, answers and calls."""
    from karn.demo.seed import seed_demo

    began = time.monotonic()
    try:
        made = seed_demo(customers=customers, months=months, seed=seed, active=active)
    except DemoError as exc:
        raise click.ClickException(str(exc)) from exc
    seconds = time.monotonic() - began
    click.echo(f"Demo data made in {seconds:.1f} s (all invented, marked demo=yes):")
    click.echo(
        f"  {made['customers']} departed customers over {months} months, "
        f"{made['invitations']} invitations ({made['scheduled']} still scheduled), "
        f"{made['responses']} responses"
    )
    click.echo(
        f"  {made['unsubscribed']} unsubscribed, {made['bounced']} bounced, "
        f"{made['call_tasks']} call tasks with {made['call_notes']} call notes"
    )
    click.echo(
        f"  {made['feedback']} feedback items from support, complaints, reviews, "
        "social media and NPS"
    )
    click.echo(
        f"  improvement action {ACTION_TITLE!r} since {made['action_started_on']}"
    )
    click.echo(
        f"  a campaign about it: {made['campaign']['mailed']} mailed, "
        f"{made['campaign']['held_back']} held back, "
        f"{made['campaign']['won_back']} won back: see Follow-ups, Mail results"
    )
    if made["risk"]:
        click.echo(
            f"  {active} current customers; churn-risk model trained (AUC "
            f"{made['risk']['auc']:.2f}), {made['risk']['scored']} scored: "
            "see At risk"
        )
    elif active:
        click.echo(f"  {active} current customers; then run: flask risk train")
    click.echo("")
    click.echo("  Demo logins (this database only):")
    for email, _name, role, _language, password in DEMO_LOGINS:
        click.echo(f"    {role.value:<8} {email:<22} {password}")
    click.echo("")


def register(app: Flask) -> None:
    app.cli.add_command(demo_cli)
