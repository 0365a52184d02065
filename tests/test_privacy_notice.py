"""The privacy notice: default texts, edited per language, shown in the visitor's."""

from karn.extensions import db as _db
from tests.test_privacy_erasure import privacy_app  # noqa: F401


def test_public_page_shows_the_default_in_the_visitors_language(
    privacy_app,  # noqa: F811
    client,
):
    dutch = client.get("/privacy?lang=nl")
    assert dutch.status_code == 200
    html = dutch.get_data(as_text=True)
    assert "Autoriteit Persoonsgegevens" in html and "24 maanden" in html
    english = client.get("/privacy", headers={"Accept-Language": "en"})
    # The ?lang=nl choice is remembered for this visitor.
    assert "Autoriteit Persoonsgegevens" in english.get_data(as_text=True)
    fresh = privacy_app.test_client()
    html = fresh.get("/privacy", headers={"Accept-Language": "en-GB"}).get_data(
        as_text=True
    )
    assert "data protection authority" in html and "90 days" in html


def test_admin_edits_the_text_per_language(
    privacy_app,  # noqa: F811
    client,
    create_user,
    login,
    post_form,
):
    from karn.accounts.models import AuditEntry
    from karn.settings import Setting

    login(create_user("admin"))
    page = client.get("/privacy/notice/edit")
    assert page.status_code == 200 and "Autoriteit" in page.get_data(as_text=True)
    saved = post_form(
        "/privacy/notice/edit",
        {"nl": "Wij van {company} <b>bewaren</b> weinig.", "en": ""},
    )
    assert saved.status_code == 302
    row = _db.session.get(Setting, "privacy.notice.nl")
    assert row.value == "Wij van {company} <b>bewaren</b> weinig."
    assert _db.session.get(Setting, "privacy.notice.en") is None
    html = client.get("/privacy?lang=nl").get_data(as_text=True)
    assert "Wij van Karn &lt;b&gt;bewaren&lt;/b&gt; weinig." in html
    english = client.get("/privacy?lang=en").get_data(as_text=True)
    assert "data protection authority" in english
    entry = _db.session.query(AuditEntry).filter_by(action="privacy.notice").one()
    assert entry.details == {"languages": "nl"}
    # Empty restores the default.
    post_form("/privacy/notice/edit", {"nl": "", "en": ""})
    _db.session.expire_all()
    assert _db.session.get(Setting, "privacy.notice.nl") is None


def test_edit_page_and_overview_are_for_admins(
    privacy_app,  # noqa: F811
    client,
    create_user,
    login,
):
    login(create_user("manager"))
    assert client.get("/privacy/notice/edit").status_code == 403
    assert client.get("/privacy/admin").status_code == 403


def test_overview_page(privacy_app, client, create_user, login):  # noqa: F811
    login(create_user("admin"))
    page = client.get("/privacy/admin")
    assert page.status_code == 200
    assert "24" in page.get_data(as_text=True)
