"""`flask customers erase`, `flask privacy enforce-retention`, `flask backup ...`."""

import json
import os

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from karn.customers.cli import customers_cli
from karn.extensions import db
from karn.privacy import backup, operations

privacy_cli = AppGroup("privacy", help="Retention of personal data.")
backup_cli = AppGroup("backup", help="Back up and restore the database.")


def _print_report(report: operations.ErasureReport) -> None:
    for section in ("removed", "closed", "kept"):
        for _key, label, count in report.rows(section):
            if count:
                click.echo(f"  {section}: {label}: {count}")


@click.command("erase")
@click.option("--email", help="The person's email address.")
@click.option("--external-id", help="The person's customer number.")
@click.option("--dry-run", is_flag=True, help="Show what would go; change nothing.")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
def erase_command(email, external_id, dry_run, yes, as_json):
    """Erase one departed customer's personal data (the right to erasure)."""
    if bool(email) == bool(external_id):
        raise click.UsageError("give exactly one of --email and --external-id")
    customer = operations.find_customer(email=email, external_id=external_id)
    if customer is None:
        raise click.ClickException(_("No such customer."))
    if dry_run:
        report = operations.preview_erasure(customer)
        db.session.rollback()
    else:
        if not yes:
            click.confirm(
                _("Erase customer #%(id)d? This cannot be undone.", id=customer.id),
                abort=True,
            )
        report = operations.erase_customer(customer)
        db.session.commit()
    if as_json:
        click.echo(json.dumps(report.as_dict(), indent=2))
        return
    if dry_run:
        click.echo(_("Would erase customer #%(id)d:", id=report.customer_ids[0]))
    else:
        click.echo(_("Customer #%(id)d erased:", id=report.customer_ids[0]))
    _print_report(report)


@privacy_cli.command("enforce-retention")
@click.option("--dry-run", is_flag=True, help="List what would be done; write nothing.")
@click.option("--batch", default=500, show_default=True, help="Rows per commit.")
def enforce_retention_command(dry_run, batch):
    """Erase people and strip mail that are past their retention limits."""
    report = operations.enforce_retention(dry_run=dry_run, batch=batch)
    click.echo(
        _(
            "%(customers)d people who left before %(personal)s erased, contents of "
            "%(mails)d mails from before %(mail)s removed",
            customers=report.customers,
            personal=report.personal_before.date().isoformat(),
            mails=report.mails,
            mail=report.mail_before.date().isoformat(),
        )
        + (" " + _("(dry run: nothing written)") if dry_run else "")
    )
    if dry_run and report.customer_ids:
        click.echo("  customers: " + ", ".join(f"#{i}" for i in report.customer_ids))


def _default_dir() -> str:
    return os.path.join(current_app.instance_path, "backups")


@backup_cli.command("create")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False),
    help="Where to write it (default: instance/backups).",
)
def backup_create(directory):
    """Back up the database into a timestamped file."""
    try:
        path = backup.create_backup(directory or _default_dir())
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_("Backup written to %(path)s", path=path))


@backup_cli.command("restore")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option(
    "--yes",
    is_flag=True,
    help="Restore without asking; stop the web processes and workers first.",
)
def backup_restore(file, yes):
    """Put a SQLite backup back in place of the live database."""
    if backup.is_sqlite() and not yes:
        # A worker writing during the copy would leave a mix of old and new.
        click.confirm(
            _(
                "Replace the live database with %(file)s? Stop the web processes "
                "and workers first.",
                file=file,
            ),
            abort=True,
        )
    try:
        safety = backup.restore_backup(file, safety_dir=_default_dir())
    except backup.BackupError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(_("Database restored from %(file)s", file=file))
    if safety:
        click.echo(_("The database as it was is kept in %(path)s", path=safety))


def register(app: Flask) -> None:
    app.cli.add_command(privacy_cli)
    # Erasure is also where people look for it: `flask customers erase`.
    customers_cli.add_command(erase_command)
    app.cli.add_command(backup_cli)
