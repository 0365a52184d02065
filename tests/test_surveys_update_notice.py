"""The notice of the default survey's new edition: put away once for the
install, remembered and audited, with the update still offered."""

from karn.accounts.models import AuditEntry
from karn.surveys import editing
from tests.conftest import csrf_token
from tests.test_surveys_polish import old_install

NOTICE = "A new edition of the default survey is available."
PUT_AWAY = "Not now: put this notice away"


def test_putting_the_notice_away_keeps_the_update_on_offer(
    db, client, create_user, login
):
    survey = old_install(db)
    manager = create_user("manager", language="en")
    login(manager)
    page = client.get("/surveys/").get_data(as_text=True)
    assert NOTICE in page and PUT_AWAY in page
    response = client.post(
        "/surveys/default-update/dismiss",
        data={"csrf_token": csrf_token(client, "/surveys/")},
    )
    assert response.status_code == 302
    page = client.get("/surveys/").get_data(as_text=True)
    assert "The notice is put away." in page
    assert NOTICE not in page and PUT_AWAY not in page
    assert "flash-warning" not in page
    # Still on offer, in the survey's card.
    assert f'id="default-update-{survey.id}"' in page
    assert "Publish the new edition" in page
    # Once is enough: a second dismissal records nothing more.
    client.post(
        "/surveys/default-update/dismiss",
        data={"csrf_token": csrf_token(client, "/surveys/")},
    )
    entries = db.session.query(AuditEntry).filter_by(
        action="survey.default_update_dismissed"
    )
    assert [(e.user_id, e.details) for e in entries] == [(manager.id, {"edition": 2})]


def test_the_notice_stays_away_for_everyone_and_the_log_says_so_in_dutch(
    db, client, create_user, login
):
    old_install(db)
    editing.dismiss_update_notice(create_user("manager"))
    db.session.commit()
    login(create_user("admin", language="nl"))
    page = client.get("/surveys/").get_data(as_text=True)
    assert "flash-warning" not in page
    log = client.get("/admin/audit").get_data(as_text=True)
    # Shown in words, never as its code.
    assert ">survey.default_update_dismissed<" not in log
    assert "Melding over de nieuwe uitgave van de standaardvragenlijst weggelegd" in log
    assert "Uitgave: 2" in log


def test_a_later_edition_brings_its_notice_back(db, monkeypatch):
    old_install(db)
    editing.dismiss_update_notice()
    db.session.commit()
    assert editing.update_notice_dismissed()
    monkeypatch.setattr(editing, "newest_edition", lambda: 3)
    assert not editing.update_notice_dismissed()


def test_without_csrf_nothing_is_put_away(db, client, create_user, login):
    old_install(db)
    login(create_user("manager", language="en"))
    client.post("/surveys/default-update/dismiss", data={})
    assert not editing.update_notice_dismissed()
    assert NOTICE in client.get("/surveys/").get_data(as_text=True)
