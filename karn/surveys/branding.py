"""The company's logo and colour on the survey pages and in survey mail.

An administrator sets both on the branding page. The logo is a PNG or JPEG of
at most 200 KB, stored in the database and served by Karn itself, so nothing
loads from elsewhere; SVG is refused, as it can carry script. The colour
becomes the survey's header, buttons and chosen answers, with white text on
it, so a colour with less than 4.5:1 contrast against white is refused.
"""

import hashlib
import re
import time
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, url_for
from flask_babel import gettext as _
from sqlalchemy.orm import Mapped, mapped_column

from karn import clock
from karn.dbtypes import UTCDateTime
from karn.extensions import db, limiter
from karn.formatting import number

LOGO_MAX_BYTES = 200 * 1024
MIN_CONTRAST = 4.5
# Sniffed from the file's first bytes, whatever its name or the browser says.
_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "image/png",
    b"\xff\xd8\xff": "image/jpeg",
}
_COLOUR = re.compile(r"#?([0-9a-fA-F]{6}|[0-9a-fA-F]{3})\Z")
_ROW = 1  # one company, one row
_CACHE = "karn.brand"
CHECK_SECONDS = 5


class Branding(db.Model):
    """The company's logo and colour (one row)."""

    __tablename__ = "branding"

    id: Mapped[int] = mapped_column(primary_key=True)
    # "#rrggbb", lower case.
    colour: Mapped[str | None] = mapped_column(sa.String(7))
    logo: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    logo_type: Mapped[str | None] = mapped_column(sa.String(20))
    # SHA-256 of the logo: its address changes with it, so browsers keep it long.
    logo_sha: Mapped[str | None] = mapped_column(sa.String(64))
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, default=clock.now, onupdate=clock.now
    )
    updated_by_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("users.id", ondelete="SET NULL")
    )


@dataclass(frozen=True)
class Brand:
    """What pages and mail need to show the branding (the logo's bytes aside)."""

    colour: str | None
    logo_sha: str | None

    @property
    def stamp(self) -> str:
        """Changes whenever what the brand looks like changes."""
        return f"{(self.colour or '').lstrip('#')}-{(self.logo_sha or '')[:16]}"


_NONE = Brand(None, None)


def _stored() -> Brand:
    row = db.session.execute(
        sa.select(Branding.colour, Branding.logo_sha).where(Branding.id == _ROW)
    ).first()
    return Brand(row.colour, row.logo_sha) if row else _NONE


def current() -> Brand:
    """The branding in force.

    The survey page is the hot path, so a process reads it at most every
    CHECK_SECONDS (BRAND_CHECK_SECONDS); a change shows everywhere within
    that time, and at once in the process that saved it.
    """
    app = current_app._get_current_object()
    cached = app.extensions.get(_CACHE)
    now = time.monotonic()
    every = app.config.get("BRAND_CHECK_SECONDS", CHECK_SECONDS)
    if cached is not None and now - cached[1] < every:
        return cached[0]
    brand = _stored()
    app.extensions[_CACHE] = (brand, now)
    return brand


def logo() -> tuple[bytes, str, str] | None:
    """The logo's bytes, content type and SHA-256, or None without a logo."""
    row = db.session.execute(
        sa.select(Branding.logo, Branding.logo_type, Branding.logo_sha).where(
            Branding.id == _ROW, Branding.logo.is_not(None)
        )
    ).first()
    return (row.logo, row.logo_type, row.logo_sha) if row else None


# --- checks -----------------------------------------------------------------------


def _channel(value: int) -> float:
    c = value / 255
    return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4


def contrast_with_white(colour: str) -> float:
    """The WCAG contrast ratio of "#rrggbb" against white, from 1 to 21."""
    r, g_, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    luminance = 0.2126 * _channel(r) + 0.7152 * _channel(g_) + 0.0722 * _channel(b)
    return 1.05 / (luminance + 0.05)


def read_colour(text: str) -> tuple[str | None, str | None]:
    """The colour as "#rrggbb" and None, or None and why it is refused."""
    match = _COLOUR.match((text or "").strip())
    if match is None:
        return None, _("Give the colour as a hex code, e.g. #1d4e5f.")
    digits = match.group(1).lower()
    if len(digits) == 3:
        digits = "".join(d * 2 for d in digits)
    colour = f"#{digits}"
    ratio = contrast_with_white(colour)
    if ratio < MIN_CONTRAST:
        return None, _(
            "White text on %(colour)s has a contrast of %(ratio)s:1; at least "
            "4.5:1 is needed to be readable. Choose a darker colour.",
            colour=colour,
            ratio=number(int(ratio * 10) / 10, 1),
        )
    return colour, None


def read_logo(data: bytes) -> tuple[str | None, str | None]:
    """The logo's content type and None, or None and why it is refused."""
    if len(data) > LOGO_MAX_BYTES:
        return None, _(
            "The logo is %(size)d KB; at most 200 KB fits. Save it smaller.",
            size=(len(data) + 1023) // 1024,
        )
    for signature, content_type in _SIGNATURES.items():
        if data.startswith(signature):
            return content_type, None
    return None, _("The logo must be a PNG or JPEG image (SVG is not accepted).")


# --- saving -----------------------------------------------------------------------


def save(
    *,
    colour: str | None,
    logo_data: bytes | None = None,
    logo_type: str | None = None,
    remove_logo: bool = False,
    user_id: int | None = None,
) -> None:
    """Store the colour (None: Karn's own) and, if given, a new logo, checked
    by ``read_colour`` and ``read_logo``."""
    row = db.session.get(Branding, _ROW)
    if row is None:
        row = Branding(id=_ROW)
        db.session.add(row)
    row.colour = colour
    if logo_data is not None:
        row.logo, row.logo_type = logo_data, logo_type
        row.logo_sha = hashlib.sha256(logo_data).hexdigest()
    elif remove_logo:
        row.logo = row.logo_type = row.logo_sha = None
    row.updated_by_id = user_id
    db.session.flush()
    current_app.extensions.pop(_CACHE, None)


# --- served to respondents ----------------------------------------------------------

bp = Blueprint("brand", __name__, url_prefix="/brand")
# Each address holds the logo's or colour's own value, so it never goes stale.
_FOREVER = "public, max-age=31536000, immutable"


@bp.route("/logo/<sha>")
@limiter.exempt
def logo_file(sha: str):
    """The logo, as the type it was checked to be."""
    found = logo()
    if found is None:
        abort(404)
    data, content_type, current_sha = found
    response = current_app.response_class(data, mimetype=content_type)
    response.headers["Content-Disposition"] = "inline"
    response.headers["Cache-Control"] = _FOREVER if sha == current_sha else "no-cache"
    return response


@bp.route("/colour/<stamp>.css")
@limiter.exempt
def colour_css(stamp: str):
    """The survey's colours, as a style sheet (pages allow no inline style)."""
    colour = current().colour
    css = f":root {{ --brand: {colour}; --brand-ink: #ffffff; }}\n" if colour else ""
    response = current_app.response_class(css, mimetype="text/css")
    response.headers["Cache-Control"] = (
        _FOREVER if stamp == current().stamp else "no-cache"
    )
    return response


def logo_url(brand: Brand, external: bool = False) -> str | None:
    """The logo's address, or None without a logo."""
    if not brand.logo_sha:
        return None
    return url_for("brand.logo_file", sha=brand.logo_sha, _external=external)
