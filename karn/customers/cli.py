"""`flask customers ...`: import customers from a CSV export."""

import click
from flask import Flask, current_app
from flask.cli import AppGroup
from flask_babel import gettext as _

from karn.customers import csvparse
from karn.customers.csv_status import TENURE_UNITS, Choices
from karn.customers.csv_summary import summarise
from karn.customers.operations import import_csv
from karn.enums import CustomerStatus, Reason

customers_cli = AppGroup("customers", help="Customers.")


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


def _parse_values(
    pairs: tuple[str, ...], allowed: tuple[str, ...], option: str
) -> dict[str, str | None]:
    """VALUE=MEANING pairs (--status-map, --reason-map); "none" for no reason."""
    values: dict[str, str | None] = {}
    for pair in pairs:
        value, sep, meaning = pair.rpartition("=")
        meaning = meaning.strip().lower()
        if not sep:
            raise click.BadParameter(f"{pair!r}: write VALUE=...", param_hint=option)
        if meaning not in allowed:
            raise click.BadParameter(
                f"{meaning!r} for {value!r}; one of: {', '.join(allowed)}",
                param_hint=option,
            )
        values[value] = None if meaning == "none" else meaning
    return values


def _describe(path: str, mapping, choices: Choices) -> None:
    """What the file's columns and values are read as (for --dry-run)."""
    with open(path, "rb") as stream:
        detected = csvparse.detect(stream)
        columns = csvparse.resolve_mapping(detected.headers, mapping)[0]
        if "status" not in {*(mapping or {}).values(), *detected.mapping.values()}:
            # As parse(): a suggested status column whose values are none is not.
            columns = {h: None if t == "status" else t for h, t in columns.items()}
        found = summarise(stream, columns, choices)
    named = [f"{h} → {t}" for h, t in columns.items() if t and t != csvparse.SKIP]
    click.echo(_("Columns: %(columns)s", columns="; ".join(named) or "—"))
    if found.status_column:
        values = ", ".join(
            f"{v.text or '(empty)'} = {v.chosen or '?'} ({v.rows})"
            for v in found.status_values
        )
        click.echo(
            _(
                "Status (%(column)s): %(values)s",
                column=found.status_column,
                values=values,
            )
        )
    if found.reason_column:
        values = ", ".join(
            f"{v.text} = {v.chosen or '-'} ({v.rows})" for v in found.reason_values
        )
        if found.more_reasons:
            values += ", " + _("%(n)d more", n=found.more_reasons)
        click.echo(
            _(
                "Reasons (%(column)s): %(values)s",
                column=found.reason_column,
                values=values,
            )
        )
    if found.tenure_column:
        click.echo(
            _(
                "Tenure (%(column)s) in %(unit)s",
                column=found.tenure_column,
                unit=_("years") if found.tenure_unit == "years" else _("months"),
            )
        )


@customers_cli.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False))
@click.option("--dry-run", is_flag=True, help="Check and count; write nothing.")
@click.option(
    "--mapping",
    multiple=True,
    metavar="COLUMN=FIELD",
    help="Map a column to a field (or to 'extra' or 'skip'); repeatable.",
)
@click.option(
    "--status-column",
    metavar="COLUMN",
    help="The column that says whether a customer left (as --mapping COLUMN=status).",
)
@click.option(
    "--status-map",
    multiple=True,
    metavar="VALUE=departed|active",
    help="What a value of the status column means; repeatable.",
)
@click.option(
    "--departed-on",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Departure date (YYYY-MM-DD) of departed rows without one; without it "
    "they get an unknown date and are not invited.",
)
@click.option(
    "--reason-map",
    multiple=True,
    metavar="VALUE=CODE",
    help="The reason code (service, quality, brand, price, need, other, none) of "
    "a value of the stated-reason column; repeatable.",
)
@click.option(
    "--tenure-unit",
    type=click.Choice(TENURE_UNITS),
    help="Unit of the tenure column (default: years only when its name says so).",
)
@click.option("--month-first", is_flag=True, help="Dates are mm/dd/yyyy.")
@click.option(
    "--rejected",
    type=click.Path(dir_okay=False, writable=True),
    help="Write the rejected rows to this CSV file.",
)
def import_command(
    file,
    dry_run,
    mapping,
    status_column,
    status_map,
    departed_on,
    reason_map,
    tenure_unit,
    month_first,
    rejected,
):
    """Import customers from a CSV export (safe to run again).

    A status column (Churn, Exited, Opgezegd, Actief …) says per row whether
    the customer departed or is active; without one every row is a departure.
    Only departed customers with a departure date are invited. With --dry-run
    it also prints how the columns and values are read.

    Exits with status 1 when nothing could be imported: the file has no data
    rows, or every row was rejected.
    """
    lang = current_app.config["DEFAULT_LANGUAGE"]
    columns = _parse_mapping(mapping)
    if status_column:
        columns = {**(columns or {}), status_column: "status"}
    choices = Choices(
        status=_parse_values(status_map, tuple(CustomerStatus), "--status-map"),
        reasons=_parse_values(reason_map, (*Reason, "none"), "--reason-map"),
        tenure_unit=tenure_unit,
        departed_on=departed_on.date() if departed_on else None,
    )
    with open(file, "rb") as stream:
        try:
            if dry_run:
                _describe(file, columns, choices)
            report = import_csv(
                stream,
                columns,
                dry_run=dry_run,
                date_order="mdy" if month_first else "dmy",
                choices=choices,
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
    click.echo(
        _(
            "%(departed)d departed, %(active)d active",
            departed=report.departed,
            active=report.active,
        )
    )
    if report.undated:
        click.echo(
            _(
                "%(n)d departed without a departure date: recorded with an unknown "
                "date and not invited (give the date with --departed-on)",
                n=report.undated,
            )
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
