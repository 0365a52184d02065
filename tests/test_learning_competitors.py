"""The competitor list page, and tagging stored texts again after it changed."""

import pytest
import sqlalchemy as sa

from tests.conftest import csrf_token
from tests.test_learning_corrections import comment, submit

URL = "/analysis/competitors"


def test_managers_may_not_see_the_list(db, client, create_user, login):
    login(create_user("manager"))
    assert client.get(URL).status_code == 403
    assert client.post(URL, data={"companies": "Glasnet"}).status_code in (400, 403)


def test_administrators_see_and_change_the_list(db, client, create_user, login):
    from karn.text import competitor_store

    admin = create_user("admin")
    login(admin)
    page = client.get(URL)
    assert page.status_code == 200
    token = csrf_token(client, URL)
    response = client.post(
        URL,
        data={"csrf_token": token, "companies": "Glasnet, GN\nStroomlijn\n\n"},
        follow_redirects=True,
    )
    assert response.status_code == 200
    listed = competitor_store.stored()
    assert listed.version == 1
    assert listed.companies == (("Glasnet", ("GN",)), ("Stroomlijn", ()))
    assert "Glasnet, GN" in client.get(URL).get_data(as_text=True)
    # Saving the same list again makes no new version.
    client.post(
        URL,
        data={
            "csrf_token": csrf_token(client, URL),
            "companies": "Glasnet, GN\nStroomlijn",
        },
    )
    assert competitor_store.stored().version == 1


def _save(db, lines):
    from karn.text import competitor_store

    version = competitor_store.save(competitor_store.parse_lines(lines), None)
    db.session.commit()
    return version


@pytest.fixture
def answered(db, create_customer):
    """Answers and a CRM comment tagged before any competitor list was saved."""
    from karn.customers import comments

    ids = []
    for i in range(6):
        ids.append(
            submit(
                db, create_customer(), "other", f"Bij glasnet is het goedkoper ({i})."
            )
        )
    submit(db, create_customer(language="en"), "other", "glasnet is cheaper", "en")
    crm = create_customer(stated_comment="Glasnet was goedkoper.")
    db.session.commit()
    assert comments.tag_waiting() == 1
    return ids, crm


def test_changing_the_list_retags_in_the_background_and_resumes_after_a_crash(
    answered, db, app, monkeypatch
):
    from karn.customers.comments import CommentTags
    from karn.learning import retag
    from karn.surveys.models import Answer
    from karn.text import competitor_store

    ids, crm = answered
    rows = db.session.scalars(sa.select(Answer).where(Answer.text.is_not(None))).all()
    assert all(a.tag_reason.value != "brand" for a in rows)

    version = _save(db, "Glasnet")
    assert retag.remaining() == {"answers": 7, "notes": 0, "comments": 1}

    # The worker crashes in the middle of its pass: the batch in flight is
    # lost, the batches before it are kept, and every text keeps tags.
    monkeypatch.setattr(retag, "JOB_BATCH", 2)
    real, calls = retag.tags_for, []

    def crashing(*args, **kwargs):
        calls.append(args[0])
        if len(calls) == 5:
            raise RuntimeError("worker killed")
        return real(*args, **kwargs)

    monkeypatch.setattr(retag, "tags_for", crashing)
    assert retag.run_retag_job(app) is False
    db.session.expire_all()
    left = retag.remaining()
    assert left["answers"] == 3
    assert competitor_store.retagged_version() == 0
    rows = db.session.scalars(sa.select(Answer).where(Answer.text.is_not(None))).all()
    assert all(a.tagged_at is not None and a.tag_reason is not None for a in rows)

    monkeypatch.setattr(retag, "tags_for", real)
    assert retag.run_retag_job(app) is True
    db.session.expire_all()
    assert retag.remaining() == {"answers": 0, "notes": 0, "comments": 0}
    assert competitor_store.retagged_version() == version
    rows = db.session.scalars(sa.select(Answer).where(Answer.text.is_not(None))).all()
    for answer in rows:
        assert answer.tag_reason.value == "brand"
        assert answer.tags["competitors"] == version
        assert answer.tags["competitor"] == "Glasnet"
    tagged = db.session.get(CommentTags, crm.id)
    assert tagged.tag_reason.value == "brand"
    assert tagged.tags["competitors"] == version

    # Nothing left: the next pass only looks at the settings.
    monkeypatch.setattr(retag, "retag", lambda **kw: pytest.fail("re-tagged again"))
    assert retag.run_retag_job(app) is True


def test_new_texts_carry_the_list_in_use(db, create_customer, app):
    from karn.text import competitor_store

    app.config["TAG_MODEL_CHECK_SECONDS"] = 0
    version = _save(db, "Zeewind Energie, Zeewind")
    competitor_store.invalidate()
    response_id = submit(
        db, create_customer(), "other", "Zeewind belde met een aanbod."
    )
    answer = comment(db, response_id)
    assert answer.tag_reason.value == "brand"
    assert answer.tags["competitors"] == version
    assert answer.tags["competitor"] == "Zeewind Energie"
