"""Exports: the ranking table and one row per response, for CSV and XLSX."""

import csv
import io
from collections.abc import Iterator

import sqlalchemy as sa

from karn.analysis import report
from karn.analysis.queries import Filters, _responses, reason_labels_for
from karn.customers.models import Customer
from karn.extensions import db
from karn.formatting import spreadsheet_cell
from karn.surveys import definition
from karn.surveys.models import Answer, Response, SurveyVersion

CHUNK = 1000


def ranking_rows(f: Filters, weight: str, lang: str) -> Iterator[list]:
    """The ranking table: a header, then one row per reason."""
    data = report.ranking_json(f, weight)
    names = reason_labels_for(lang)
    yield [
        "reason",
        "label",
        "count",
        "shown",
        "share",
        "ci_low",
        "ci_high",
        "monthly_revenue",
        "revenue_share",
        "secondary",
        "overlaps_next",
        "n",
    ]
    for row in data["reasons"]:
        yield [
            row["reason"],
            names[row["reason"]],
            row["count"],
            row["shown"],
            row["share"],
            row["ci_low"],
            row["ci_high"],
            row["revenue"],
            row["revenue_share"],
            row["secondary"],
            row["overlaps_next"],
            data["n"],
        ]


def _question_columns(f: Filters) -> tuple[list[str], set[str]]:
    """Every question key of the versions in the export, in survey order."""
    ids = db.session.scalars(_responses(f, Response.survey_version_id).distinct()).all()
    keys, texts = [], set()
    for version in db.session.scalars(
        sa.select(SurveyVersion)
        .where(SurveyVersion.id.in_(ids))
        .order_by(SurveyVersion.number)
    ):
        for q in version.questions:
            if q["key"] not in keys and q["type"] != "phone_time":
                keys.append(q["key"])
            if q["type"] in definition.TEXT_TYPES:
                texts.add(q["key"])
    return keys, texts


def _flat(value) -> object:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={v}" for k, v in value.items())
    if isinstance(value, bool):
        return "yes" if value else "no"
    return value


def response_rows(f: Filters) -> Iterator[list]:
    """One row per submitted response: customer fields, answers, tags. Streams."""
    keys, texts = _question_columns(f)
    header = [
        "response_id",
        "submitted_at",
        "language",
        "channel",
        "survey_version",
        "customer_id",
        "segment",
        "plan",
        "region",
        "tenure_months",
        "monthly_revenue",
        "primary_reason",
    ]
    for key in keys:
        header.append(key)
        if key in texts:
            header += [
                f"{key}_sentiment",
                f"{key}_sentiment_score",
                f"{key}_reason_tag",
            ]
    yield header
    query = _responses(
        f,
        Response.id,
        Response.submitted_at,
        Response.language,
        Response.channel,
        SurveyVersion.number,
        Customer.external_id,
        Customer.segment,
        Customer.plan,
        Customer.region,
        Customer.tenure_months,
        Customer.monthly_revenue,
        Response.primary_reason,
    ).join(SurveyVersion, SurveyVersion.id == Response.survey_version_id)
    if not f.needs_customer:
        query = query.outerjoin(Customer, Customer.id == Response.customer_id)
    query = query.order_by(Response.id)
    last_id = 0
    while True:
        rows = db.session.execute(query.where(Response.id > last_id).limit(CHUNK)).all()
        if not rows:
            break
        last_id = rows[-1][0]
        answers: dict[int, dict[str, Answer]] = {}
        for answer in db.session.scalars(
            sa.select(Answer).where(Answer.response_id.in_([r[0] for r in rows]))
        ):
            answers.setdefault(answer.response_id, {})[answer.question_key] = answer
        for r in rows:
            given = answers.get(r[0], {})
            line = [
                r[0],
                r[1].isoformat(),
                r[2].value,
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                r[9],
                float(r[10]) if r[10] is not None else None,
                r[11].value if r[11] else None,
            ]
            for key in keys:
                answer = given.get(key)
                line.append(_flat(answer.value) if answer else None)
                if key in texts:
                    if answer and answer.sentiment:
                        line += [
                            answer.sentiment.value,
                            answer.sentiment_score,
                            answer.tag_reason.value if answer.tag_reason else None,
                        ]
                    else:
                        line += [None, None, None]
            yield line
        db.session.expire_all()


def csv_chunks(rows: Iterator[list]) -> Iterator[str]:
    """Rows as CSV text, a row at a time, every cell through spreadsheet_cell()."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    yield "\ufeff"  # Excel reads UTF-8 only with the byte-order mark
    for row in rows:
        writer.writerow([spreadsheet_cell(v) for v in row])
        yield buffer.getvalue()
        buffer.seek(0)
        buffer.truncate(0)


def xlsx(rows: Iterator[list]) -> bytes:
    """Rows as an Excel workbook, written row by row."""
    from openpyxl import Workbook  # here: a slow import only exports need

    book = Workbook(write_only=True)
    sheet = book.create_sheet("Karn")
    for row in rows:
        sheet.append([spreadsheet_cell(v) for v in row])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()
