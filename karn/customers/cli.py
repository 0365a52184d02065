"""`flask customers ...`: import departed customers from a CSV export."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from karn.customers import csvparse
from karn.customers.operations import import_csv

customers_cli = AppGroup("customers", help="Departed customers.")


def _parse_mapping(pairs: tuple[str, ...]) -> dict[str, str | None] | None:
    if not pairs:
        return None
    mapping: dict[str, str | None] = {}
    for pair in pairs:
        column, sep, target = pair.partition("=")
        if not sep:
            raise click.BadParameter(
                f"{pair!r}: write COLUMN=FIELD", param_hint="--mapping"
            )
        target = target.strip()
        if target in ("", "-", "none", "skip"):
            mapping[column.strip()] = csvparse.SKIP
        elif target in ("extra", "keep"):
            mapping[column.strip()] = None
        elif target in csvparse.TARGETS:
            mapping[column.strip()] = target
        else:
            raise click.BadParameter(
                f"unknown field {target!r}; one of: {', '.join(csvparse.TARGETS)}, "
                "extra, skip",
                param_hint="--mapping",
            )
    return mapping


@customers_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and count; write nothing.")
@click.option(
    "--mapping",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Map a column to a field (or to 'extra' or 'skip'); repeatable.",
)
@click.option("--month-first", is_flag=True, help="Dates are mm/dd/yyyy.")
@click.option(
    "--rejected",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the rejected rows to this CSV file.",
)
def import_command(file, dry_run, mapping, month_first, rejected):
    """Import departed customers from a CSV export (safe to run again).

    Exits with status 1 when nothing could be imported: the file has no data
    rows, or every row was rejected.
    """
    lang = current_app.config["DEFAULT_LANGUAGE"]
    with open(file, "rb") as stream:
        try:
            report = import_csv(
                stream,
                _parse_mapping(mapping),
                dry_run=dry_run,
                date_order="mdy" if month_first else "dmy",
            )
        except csvparse.CsvFormatError as exc:
            raise click.ClickException(exc.message(lang)) from exc
    click.echo(
        _(
            "%(rows)d rows: %(created)d new, %(updated)d updated, "
            "%(unchanged)d unchanged, %(rejected)d rejected",
            rows=report.rows,
            created=report.created,
            updated=report.updated,
            unchanged=report.unchanged,
            rejected=report.rejected,
        )
        + (" " + _("(dry run: nothing written)") if dry_run else "")
    )
    if warning := report.warning(lang):
        click.echo(_("Warning: %(text)s", text=warning), err=True)
    for error in report.errors[:20]:
        for problem in error.errors:
            where = _("line %(line)d", line=error.line)
            if problem.column:
                where += ", " + _("column %(column)s", column=problem.column)
            click.echo(f"  {where}: {problem.message(lang)}", err=True)
    if len(report.errors) > 20:
        more = len(report.errors) - 20
        click.echo("  " + _("… and %(n)d more rejected rows", n=more), err=True)
    if rejected and report.errors:
        with open(rejected, "wb") as out:
            out.write(report.rejected_csv(lang))
        click.echo(_("Rejected rows written to %(path)s", path=rejected))
    if not report.rows:
        click.echo(_("The file has a header but no data rows."), err=True)
        click.get_current_context().exit(1)
    if report.rejected == report.rows:
        click.echo(_("Every row was rejected: nothing was imported."), err=True)
        click.get_current_context().exit(1)


def register(app: Flask) -> None:
    app.cli.add_command(customers_cli)
