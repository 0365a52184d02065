"""The digest as a PDF, drawn with fpdf2 in matplotlib's bundled DejaVu Sans.

DejaVu Sans covers every character Dutch and English need (é, ë, €, −), and
ships inside matplotlib, so nothing is fetched and no system font is needed.
"""

import io
import os

import matplotlib
from babel.numbers import format_decimal
from flask_babel import force_locale
from flask_babel import gettext as _
from fpdf import FPDF
from fpdf.fonts import FontFace

from karn.digest.content import Digest

FONT_DIR = os.path.join(matplotlib.get_data_path(), "fonts", "ttf")
FONT = "DejaVu"
GREY = (91, 103, 112)
LINE = (216, 222, 226)


class _Document(FPDF):
    """A4 pages with the digest's title in the header and page numbers below."""

    def __init__(self, title: str, company: str):
        super().__init__(format="A4")
        self.digest_title = title
        self.company = company
        self.add_font(FONT, "", os.path.join(FONT_DIR, "DejaVuSans.ttf"))
        self.add_font(FONT, "B", os.path.join(FONT_DIR, "DejaVuSans-Bold.ttf"))
        self.add_font(FONT, "I", os.path.join(FONT_DIR, "DejaVuSans-Oblique.ttf"))
        self.set_margins(18, 18, 18)
        self.set_auto_page_break(True, margin=18)
        self.set_title(title)
        self.set_author(company)
        self.set_creator("Karn")

    def footer(self) -> None:
        self.set_y(-12)
        self.set_font(FONT, "", 8)
        self.set_text_color(*GREY)
        page = _("Page %(page)s of %(pages)s", page=self.page_no(), pages="{nb}")
        self.cell(0, 5, f"{self.company} · {self.digest_title}", align="L")
        self.set_x(self.l_margin)
        self.cell(0, 5, page, align="R")


def render(digest: Digest, company: str, chart_png: bytes | None = None) -> bytes:
    """The whole digest as PDF bytes, in the digest's language."""
    with force_locale(digest.lang):
        doc = _Document(digest.title, company)
        doc.add_page()
        _write(doc, digest, chart_png)
        return bytes(doc.output())


def _heading(doc: FPDF, text: str, size: int = 13) -> None:
    # Keep a heading with at least a few lines of what follows it.
    if doc.will_page_break(30):
        doc.add_page()
    doc.ln(3)
    doc.set_font(FONT, "B", size)
    doc.set_text_color(0, 0, 0)
    doc.multi_cell(0, size * 0.5, text, new_x="LMARGIN", new_y="NEXT", align="L")
    doc.ln(1)


def _paragraph(doc: FPDF, text: str, style: str = "", size: int = 10) -> None:
    doc.set_font(FONT, style, size)
    doc.set_text_color(0, 0, 0)
    doc.multi_cell(0, 5, text, new_x="LMARGIN", new_y="NEXT", align="L")
    doc.ln(1)


def _note(doc: FPDF, text: str) -> None:
    doc.set_font(FONT, "", 9)
    doc.set_text_color(*GREY)
    doc.multi_cell(0, 4.5, text, new_x="LMARGIN", new_y="NEXT", align="L")
    doc.set_text_color(0, 0, 0)
    doc.ln(1)


def _table(
    doc: FPDF,
    rows: list[list[str]],
    widths: tuple,
    align: tuple,
    size: float = 8.5,
    heading_size: float | None = None,
) -> None:
    doc.set_font(FONT, "", size)
    doc.set_draw_color(*LINE)
    with doc.table(
        col_widths=widths,
        text_align=align,
        headings_style=FontFace(emphasis="BOLD", size_pt=heading_size or size),
        line_height=5,
        padding=1.2,
        borders_layout="HORIZONTAL_LINES",
    ) as table:
        for values in rows:
            row = table.row()
            for value in values:
                row.cell(value)
    doc.ln(2)


def _quote(doc: FPDF, text: str, source: str) -> None:
    if doc.will_page_break(15):
        doc.add_page()
    doc.set_font(FONT, "I", 10)
    doc.set_x(doc.l_margin + 4)
    doc.multi_cell(0, 5, f"“{text}”", new_x="LMARGIN", new_y="NEXT", align="L")
    doc.set_x(doc.l_margin + 4)
    _note(doc, f"— {source}")


def _write(doc: FPDF, d: Digest, chart_png: bytes | None) -> None:
    doc.set_font(FONT, "B", 18)
    doc.multi_cell(0, 9, d.title, new_x="LMARGIN", new_y="NEXT", align="L")
    _note(doc, d.dates_text)
    if not d.complete:
        _paragraph(doc, _("This period is not over yet: the figures may still change."))

    _heading(doc, d.headings["ranking"])
    _paragraph(doc, d.respondents_text)
    if d.reasons:
        if chart_png:
            doc.image(io.BytesIO(chart_png), w=doc.epw * 0.8)
            doc.ln(2)
        rows = [
            [
                _("Reason"),
                _("Respondents"),
                _("Share"),
                d.previous_label,
                _("Change"),
                _("Is the change real?"),
            ]
        ]
        rows += [
            [
                r.label,
                format_decimal(r.count, locale=d.lang),
                r.share_text,
                r.previous_text,
                r.change_text,
                r.significance,
            ]
            for r in d.reasons
        ]
        _table(
            doc,
            rows,
            (30, 27, 18, 24, 24, 51),
            ("LEFT", "RIGHT", "RIGHT", "RIGHT", "RIGHT", "LEFT"),
            heading_size=8,
        )
    else:
        _paragraph(doc, _("Nobody answered the survey in this period."))

    _heading(doc, d.headings["survey_quotes"])
    if d.survey_quotes:
        for group in d.survey_quotes:
            if doc.will_page_break(20):
                doc.add_page()
            doc.set_font(FONT, "B", 10)
            doc.multi_cell(0, 5, group.label, new_x="LMARGIN", new_y="NEXT", align="L")
            for quote in group.negative + group.positive:
                _quote(doc, quote.text, quote.date_text)
    else:
        _paragraph(doc, _("No comments with a clear sentiment in this period."))

    _heading(doc, d.headings["call_quotes"])
    if d.call_negative or d.call_positive:
        for quote in d.call_negative + d.call_positive:
            source = f"{quote.author}, {quote.date_text}"
            if quote.reasons_text:
                source += f" ({quote.reasons_text})"
            _quote(doc, quote.text, source)
    else:
        _paragraph(doc, _("No call notes with a clear sentiment in this period."))

    _heading(doc, d.headings["calls"])
    _paragraph(doc, d.calls_text)
    if d.calls:

        def number(value: int) -> str:
            return format_decimal(value, locale=d.lang)

        codes = [code for code, _label in d.outcome_labels]
        rows = [
            [_("Staff member"), *[label for _c, label in d.outcome_labels], _("Total")]
        ]
        for person in d.calls:
            counts = [number(person.outcomes[code]) for code in codes]
            rows.append([person.name, *counts, number(person.total)])
        totals = [number(d.call_totals[code]) for code in codes]
        rows.append([_("Everyone"), *totals, number(d.calls_total)])
        # Outcome names are long in Dutch: small headings, reasons below.
        widths = (30, *([20] * len(codes)), 16)
        align = ("LEFT", *(["RIGHT"] * (len(codes) + 1)))
        _table(doc, rows, widths, align, size=8.5, heading_size=8)
        heard = [p for p in d.calls if p.reasons_text]
        if heard:
            _paragraph(doc, _("Reasons heard:"), "B", 9)
            for person in heard:
                _note(doc, f"{person.name}: {person.reasons_text}")

    _heading(doc, d.headings["win_backs"])
    _paragraph(doc, d.win_backs_text)

    _heading(doc, d.headings["actions"])
    if d.actions:
        for action in d.actions:
            if doc.will_page_break(20):
                doc.add_page()
            _paragraph(doc, action.title, "B")
            facts = _(
                "%(reason)s · since %(date)s",
                reason=action.label,
                date=action.started_text,
            )
            if action.ended_text:
                facts += " · " + _("ended %(date)s", date=action.ended_text)
            if action.owner:
                facts += " · " + action.owner
            _note(doc, facts)
            _paragraph(doc, action.verdict)
    else:
        _paragraph(doc, _("No improvement action was running in this period."))
