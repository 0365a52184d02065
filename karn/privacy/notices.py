"""The privacy notice ex-customers read, edited per language by admins."""

from pathlib import Path

from flask import current_app
from markupsafe import Markup, escape

from karn.enums import Language
from karn.extensions import db
from karn.privacy.operations import (
    DEFAULT_RETENTION_MAIL_DAYS,
    DEFAULT_RETENTION_PERSONAL_MONTHS,
)
from karn.settings import Setting

KEY = "privacy.notice.{lang}"
LANGUAGES = tuple(lang.value for lang in Language)

# The default texts, in files next to this module. Placeholders an admin may
# use in the text too: {company}, {months}, {days}.
_HERE = Path(__file__).parent
DEFAULTS = {
    lang: (_HERE / f"notice_{lang}.txt").read_text(encoding="utf-8").strip()
    for lang in LANGUAGES
}


def stored(lang: str) -> str | None:
    """The admin's text for a language, if one was saved."""
    row = db.session.get(Setting, KEY.format(lang=lang))
    return row.value if row is not None and isinstance(row.value, str) else None


def text(lang: str) -> str:
    """The notice in a language, placeholders filled in."""
    lang = lang if lang in LANGUAGES else current_app.config["DEFAULT_LANGUAGE"]
    raw = stored(lang) or DEFAULTS.get(lang, DEFAULTS["en"])
    config = current_app.config
    values = {
        "{company}": config["COMPANY_NAME"],
        "{months}": str(
            config.get("RETENTION_PERSONAL_MONTHS", DEFAULT_RETENTION_PERSONAL_MONTHS)
        ),
        "{days}": str(config.get("RETENTION_MAIL_DAYS", DEFAULT_RETENTION_MAIL_DAYS)),
    }
    # Plain replacement: braces elsewhere in an admin's text are left alone.
    for placeholder, value in values.items():
        raw = raw.replace(placeholder, value)
    return raw


def as_html(notice: str) -> Markup:
    """Paragraphs from blank-line-separated plain text, escaped."""
    paragraphs = [p.strip() for p in notice.replace("\r\n", "\n").split("\n\n")]
    return Markup("\n").join(
        Markup("<p>{}</p>").format(Markup("<br>").join(escape(p).split("\n")))
        for p in paragraphs
        if p
    )


def save(values: dict[str, str | None], user_id: int | None) -> list[str]:
    """Store the texts per language; empty resets to the default. Changed languages."""
    changed = []
    for lang, value in values.items():
        if lang not in LANGUAGES:
            raise KeyError(lang)
        value = (value or "").strip() or None
        if value == DEFAULTS[lang].strip():
            value = None
        row = db.session.get(Setting, KEY.format(lang=lang))
        if value is None:
            if row is not None:
                db.session.delete(row)
                changed.append(lang)
        elif row is None:
            db.session.add(
                Setting(key=KEY.format(lang=lang), value=value, updated_by_id=user_id)
            )
            changed.append(lang)
        elif row.value != value:
            row.value, row.updated_by_id = value, user_id
            changed.append(lang)
    db.session.flush()
    return changed
