"""The company's logo and colour: set by an administrator, checked, served by
Karn itself, and shown on the survey pages and in the invitation mail."""

import struct
import zlib
from datetime import timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.customers.operations import upsert_departures
from karn.enums import Source
from karn.surveys import branding, delivery, links
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Invitation, OutboxMessage
from tests.conftest import csrf_token

BRANDING = "/admin/branding"


def png(width=2, height=1, padding=0) -> bytes:
    """A real PNG image (red pixels), padded with a comment chunk if asked."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    chunks = [
        chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)),
        chunk(b"IDAT", zlib.compress(rows)),
    ]
    if padding:
        chunks.append(chunk(b"tEXt", b"Comment\x00" + b"x" * padding))
    return b"\x89PNG\r\n\x1a\n" + b"".join(chunks) + chunk(b"IEND", b"")


JPEG = bytes.fromhex("ffd8ffe000104a46494600010100000100010000ffd9")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>'


@pytest.fixture
def admin(client, create_user, login):
    login(create_user("admin", language="en"))
    return client


def upload(client, colour="", logo=None, name="logo.png", **extra):
    data = {"csrf_token": csrf_token(client, BRANDING), "colour": colour, **extra}
    if logo is not None:
        from io import BytesIO

        data["logo"] = (BytesIO(logo), name)
    return client.post(BRANDING, data=data, content_type="multipart/form-data")


def invite(db) -> str:
    ensure_default_survey()
    upsert_departures(
        [
            (
                {
                    "external_id": "BR1",
                    "email": "br1@example.nl",
                    "language": "en",
                    "departed_at": clock.now() - timedelta(days=3),
                },
                {},
            )
        ],
        Source.API,
    )
    db.session.commit()
    delivery.run_due()
    invitation = db.session.scalars(sa.select(Invitation)).one()
    return f"/s/{links.invitation_token(invitation.id)}"


def test_a_png_logo_and_colour_show_on_the_survey_pages(admin, app, db):
    image = png()
    saved = upload(admin, colour="#1A5E20", logo=image)
    assert saved.status_code == 302
    page = admin.get(BRANDING).get_data(as_text=True)
    assert "The branding is saved" in page and 'value="#1a5e20"' in page

    visitor = app.test_client()
    survey = visitor.get(invite(db)).get_data(as_text=True)
    brand = branding.current()
    assert f'src="/brand/logo/{brand.logo_sha}"' in survey
    assert 'alt="' in survey.split("/brand/logo/")[1].split(">")[0]
    served = visitor.get(f"/brand/logo/{brand.logo_sha}")
    assert served.status_code == 200
    assert served.mimetype == "image/png" and served.data == image
    assert served.headers["X-Content-Type-Options"] == "nosniff"
    assert "immutable" in served.headers["Cache-Control"]
    css_url = f"/brand/colour/{brand.stamp}.css"
    assert f'href="{css_url}"' in survey
    css = visitor.get(css_url)
    assert css.mimetype == "text/css"
    assert "--brand: #1a5e20" in css.get_data(as_text=True)


def test_a_jpeg_logo_is_served_as_jpeg_and_can_be_removed(admin, app):
    assert upload(admin, logo=JPEG, name="logo.jpg").status_code == 302
    sha = branding.current().logo_sha
    assert app.test_client().get(f"/brand/logo/{sha}").mimetype == "image/jpeg"
    assert upload(admin, remove_logo="y").status_code == 302
    assert branding.current().logo_sha is None
    assert app.test_client().get(f"/brand/logo/{sha}").status_code == 404


@pytest.mark.parametrize(
    ("logo", "name", "message"),
    [
        (SVG, "logo.svg", "SVG is not accepted"),
        (b"GIF89a\x01\x00\x01\x00", "logo.png", "must be a PNG or JPEG"),
        (png(padding=205 * 1024), "big.png", "at most 200 KB"),
    ],
    ids=["svg", "gif-named-png", "too-large"],
)
def test_logos_that_are_not_small_png_or_jpeg_are_refused(admin, logo, name, message):
    refused = upload(admin, logo=logo, name=name)
    assert refused.status_code == 200
    assert message in refused.get_data(as_text=True)
    assert branding.current().logo_sha is None


@pytest.mark.parametrize("colour", ["#ffcc00", "#777777", "abc"])
def test_a_colour_too_light_for_white_text_is_refused(admin, colour):
    refused = upload(admin, colour=colour)
    html = refused.get_data(as_text=True)
    assert refused.status_code == 200
    assert "at least 4.5:1 is needed" in html and "Choose a darker colour" in html
    assert branding.current().colour is None


def test_a_colour_that_is_not_a_colour_is_refused(admin):
    html = upload(admin, colour="red").get_data(as_text=True)
    assert "Give the colour as a hex code" in html


def test_contrast_is_the_wcag_ratio():
    assert branding.contrast_with_white("#000000") == pytest.approx(21)
    assert branding.contrast_with_white("#ffffff") == pytest.approx(1)
    # #767676 is the lightest grey that passes 4.5:1; #777777 just fails.
    assert (
        branding.contrast_with_white("#767676")
        >= 4.5
        > (branding.contrast_with_white("#777777"))
    )


def test_the_invitation_mail_carries_the_logo_and_colour(admin, db):
    upload(admin, colour="#1d3f8a", logo=png())
    invite(db)
    mail = db.session.scalars(sa.select(OutboxMessage)).one()
    sha = branding.current().logo_sha
    assert f'src="http://localhost/brand/logo/{sha}"' in mail.body_html
    assert "background:#1d3f8a" in mail.body_html


def test_without_branding_nothing_changes(app, db):
    survey = app.test_client().get(invite(db)).get_data(as_text=True)
    assert "/brand/" not in survey
    mail = db.session.scalars(sa.select(OutboxMessage)).one()
    assert "/brand/" not in mail.body_html and "background:#1d4e5f" in mail.body_html


def test_only_administrators_change_the_branding(client, create_user, login):
    login(create_user("manager"))
    assert client.get(BRANDING).status_code == 403
