"""The respondent's pages: answering, resuming, one submission, public link, XSS."""

import re
import threading
import time
from datetime import timedelta

import pytest
import sqlalchemy as sa

from karn import clock
from karn.callbacks.models import CallTask
from karn.customers.models import Customer
from karn.customers.operations import upsert_departures
from karn.enums import Source
from karn.surveys import delivery, links, respond, responses
from karn.surveys.models import (
    Answer,
    Invitation,
    OutboxMessage,
    Response,
    ResponseReason,
)
from karn.surveys.respond import reference_signature
from tests.conftest import csrf_token

GOOD = {
    "q_main_reason": "brand",
    "q_switched_to": "Concurrent BV",
    "q_ratings__service": "2",
    "q_ratings__quality": "4",
    "q_ratings__value": "3",
    "q_come_back": "5",
    "q_callback": "no",
}


@pytest.fixture
def survey(db):
    from karn.surveys.editing import ensure_default_survey

    survey, _ = ensure_default_survey()
    db.session.commit()
    return survey


@pytest.fixture
def link(db, survey):
    """A prepared invitation's personal link, as the mail carries it."""
    result = upsert_departures(
        [
            (
                {
                    "external_id": "R1",
                    "email": "r@example.nl",
                    "language": "nl",
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
    assert invitation.customer_id == result.ids[0]
    return f"/s/{links.invitation_token(invitation.id)}"


def post(client, url, data):
    return client.post(url, data={**data, "csrf_token": csrf_token(client, url)})


def stored_response(db):
    db.session.expire_all()
    return db.session.scalars(sa.select(Response)).one()


def test_page_is_in_the_customers_language_and_switchable(client, link):
    html = client.get(link).get_data(as_text=True)
    assert 'lang="nl"' in html and "Waarom bent u vertrokken" in html
    html = client.get(link + "?lang=en").get_data(as_text=True)
    assert 'lang="en"' in html and "Why did you leave" in html


def test_reason_options_are_shuffled_per_respondent_and_the_order_is_stored(
    client, link, db
):
    html = client.get(link).get_data(as_text=True)
    shown = re.findall(r'name="q_main_reason" value="(\w+)"', html)
    assert sorted(shown) == sorted(
        ["service", "quality", "brand", "price", "need", "other"]
    )
    assert shown[-1] == "other"
    assert (
        re.findall(
            r'name="q_main_reason" value="(\w+)"',
            client.get(link).get_data(as_text=True),
        )
        == shown
    )  # the same order on every visit
    assert post(client, link, GOOD).status_code == 302
    rows = db.session.scalars(
        sa.select(ResponseReason).order_by(ResponseReason.position)
    ).all()
    assert [r.reason.value for r in rows] == shown
    assert [r.reason.value for r in rows if r.is_primary] == ["brand"]


def test_missing_answers_are_explained_next_to_the_fields_in_dutch(client, link, db):
    response = post(client, link, {"q_main_reason": "price", "q_come_back": "11"})
    html = response.get_data(as_text=True)
    assert response.status_code == 422
    assert "Some answers" not in html  # Dutch page
    assert 'class="error"' in html and "q-ratings" in html
    # What was typed is kept, on the page and in the database.
    assert 'value="price" checked' in html
    answers = {a.question_key: a.value for a in db.session.scalars(sa.select(Answer))}
    assert answers.get("main_reason") == "price"


def test_conditional_question_is_only_kept_when_it_applies(client, link, db):
    post(client, link, {**GOOD, "q_main_reason": "price"})
    answers = {a.question_key for a in stored_response(db).answers}
    assert "switched_to" not in answers
    assert "main_reason" in answers


def test_progress_is_kept_and_the_page_resumes(client, link, db):
    url = link.replace("/s/", "/s/", 1) + "/save"
    token = csrf_token(client, link)
    saved = client.post(
        url,
        data={
            "csrf_token": token,
            "q_main_reason": "need",
            "q_keep_you": "Ik ben verhuisd",
        },
    )
    assert saved.status_code == 204
    other_tab = client.application.test_client()
    html = other_tab.get(link).get_data(as_text=True)
    assert 'value="need" checked' in html and "Ik ben verhuisd" in html
    assert stored_response(db).submitted_at is None


def test_double_submit_stores_one_response_and_thanks_twice(client, link, db):
    # A double-click sends the same form, with the same token, twice.
    token = csrf_token(client, link)
    first = client.post(link, data={**GOOD, "csrf_token": token})
    second = client.post(
        link, data={**GOOD, "q_main_reason": "price", "csrf_token": token}
    )
    assert first.status_code == 302
    assert second.status_code == 200
    # The page the browser shows last: the thanks for what was just sent.
    assert "Bedankt voor uw antwoorden" in second.get_data(as_text=True)
    assert db.session.scalar(sa.select(sa.func.count(Response.id))) == 1
    assert stored_response(db).primary_reason.value == "brand"


def test_free_text_is_tagged_and_call_requests_reach_the_call_list(client, link, db):
    post(
        client,
        link,
        {
            **GOOD,
            "q_keep_you": "De klantenservice reageerde nooit, heel slecht.",
            "q_callback": "yes",
            "q_callback_phone__phone": "06-12345678",
            "q_callback_phone__time": "na 18 uur",
        },
    )
    answer = db.session.scalars(
        sa.select(Answer).where(Answer.question_key == "keep_you")
    ).one()
    assert answer.sentiment.value == "negative"
    assert answer.tag_reason.value == "service"
    task = db.session.scalars(sa.select(CallTask)).one()
    assert (task.phone, task.preferred_time, task.source.value) == (
        "06-12345678",
        "na 18 uur",
        "requested",
    )


@pytest.mark.parametrize(
    "field", ["q_keep_you", "q_switched_to", "q_callback_phone__time"]
)
def test_script_in_any_text_answer_is_shown_as_text(
    client, link, db, create_user, login, field
):
    attack = '<script>alert("x")</script><img src=x onerror=alert(1)>'
    post(
        client,
        link,
        {
            **GOOD,
            "q_callback": "yes",
            "q_callback_phone__phone": "0612345678",
            field: attack,
        },
    )
    customer = db.session.scalars(sa.select(Customer)).first()
    login(create_user("manager"))
    html = client.get(f"/customers/{customer.id}").get_data(as_text=True)
    if field != "q_callback_phone__time":
        assert "&lt;script&gt;alert(" in html
    assert "<script>alert" not in html and "<img src=x" not in html


def test_public_link_without_reference_stores_an_anonymous_response(client, survey, db):
    url = f"/a/{survey.public_token}"
    assert client.get(url).status_code == 200
    assert post(client, url, GOOD).status_code == 200
    response = stored_response(db)
    assert (response.channel, response.customer_id) == ("anonymous", None)


def test_public_link_with_a_signed_reference_links_the_customer(
    client, survey, db, app, create_customer
):
    app.config["PUBLIC_LINK_SECRET"] = "shared-with-the-shop"
    customer = create_customer(external_id="SHOP-7")
    sig = reference_signature("SHOP-7", "shared-with-the-shop")
    url = f"/a/{survey.public_token}?ref=SHOP-7&sig={sig}"
    post(client, url, GOOD)
    assert stored_response(db).customer_id == customer.id


def test_public_link_with_an_erased_persons_reference_stays_anonymous(
    client, survey, db, app, create_customer
):
    from karn.privacy.operations import erase_customer

    app.config["PUBLIC_LINK_SECRET"] = "shared-with-the-shop"
    erase_customer(create_customer(external_id="SHOP-7"))
    db.session.commit()
    sig = reference_signature("SHOP-7", "shared-with-the-shop")
    post(client, f"/a/{survey.public_token}?ref=SHOP-7&sig={sig}", GOOD)
    assert stored_response(db).customer_id is None
    assert db.session.scalars(sa.select(Customer.external_id)).all() == [None]


def test_public_link_ignores_a_forged_reference(
    client, survey, db, app, create_customer
):
    app.config["PUBLIC_LINK_SECRET"] = "shared-with-the-shop"
    create_customer(external_id="SHOP-7")
    url = f"/a/{survey.public_token}?ref=SHOP-7&sig={'0' * 64}"
    post(client, url, GOOD)
    assert stored_response(db).customer_id is None


def test_honeypot_catches_bots(client, survey, db):
    url = f"/a/{survey.public_token}"
    response = post(client, url, {**GOOD, "website": "http://spam.example"})
    assert response.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(Response.id))) == 0


def test_public_link_is_rate_limited(client, survey, app):
    url = f"/a/{survey.public_token}"
    statuses = [post(client, url, GOOD).status_code for _ in range(21)]
    assert statuses[:20] == [200] * 20 and statuses[20] == 429


def test_survey_pages_allow_no_inline_script(client, link):
    response = client.get(link)
    policy = response.headers["Content-Security-Policy"]
    assert "script-src 'self'" in policy and "unsafe-inline" not in policy
    assert "<script>" not in response.get_data(as_text=True)


def test_request_size_is_limited(client, link, app):
    app.config["MAX_CONTENT_LENGTH"] = 10_000
    token = csrf_token(client, link)
    response = client.post(link, data={"csrf_token": token, "q_keep_you": "x" * 20_000})
    assert response.status_code == 413


def test_an_answer_closes_the_invitation_and_cancels_its_waiting_mail(client, link, db):
    # Without a mail server the invitation mail waits in the outbox as held.
    assert db.session.scalars(sa.select(OutboxMessage)).one().status.value == "held"
    assert post(client, link, GOOD).status_code == 302
    db.session.expire_all()
    invitation = db.session.scalars(sa.select(Invitation)).one()
    assert invitation.status.value == "responded"
    assert invitation.responded_at == invitation.closed_at is not None
    assert db.session.scalars(sa.select(OutboxMessage)).one().status.value == (
        "cancelled"
    )


def test_submitting_after_saved_progress_replaces_the_saved_answers(client, link, db):
    token = csrf_token(client, link)
    client.post(
        link + "/save",
        data={"csrf_token": token, "q_main_reason": "need", "q_keep_you": "Niets"},
    )
    assert post(client, link, GOOD).status_code == 302
    response = stored_response(db)
    assert response.submitted_at is not None
    assert response.primary_reason.value == "brand"
    answers = {a.question_key: a.value for a in response.answers}
    assert answers["main_reason"] == "brand" and "keep_you" not in answers
    assert len(response.reasons) == 6
    later = client.application.test_client().get(link)
    assert "al bij ons binnen" in later.get_data(as_text=True)


def test_opening_and_submitting_take_few_statements(client, link, db):
    client.get(link)  # the first visit also reads the survey version
    # The process looks up the reason model, the competitor list and the
    # webhook endpoints in use at most every few seconds.
    from karn.text.competitor_store import active_competitors
    from karn.text.model_store import active_reason_model
    from karn.webhooks import subscribers

    active_reason_model()
    active_competitors()
    subscribers.subscribed("response.submitted")
    statements = []

    def record(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", record)
    try:
        page = client.get(link)
        opened = len(statements)
        token = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        assert client.post(link, data={**GOOD, "csrf_token": token}).status_code == 302
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", record)
    # The invitation with its customer and response; then the response, its
    # answers and reasons, the invitation, its waiting mail, the dashboard's
    # facts row and the daily totals.
    assert opened == 1
    assert len(statements) - opened == 8


def _two_links(db, survey) -> list[tuple[str, int]]:
    """Two people's links (Dutch) with the same option order, and their customers."""
    upsert_departures(
        [
            (
                {
                    "external_id": f"P{i}",
                    "email": f"p{i}@example.nl",
                    "language": "nl",
                    "departed_at": clock.now() - timedelta(days=3),
                },
                {},
            )
            for i in range(40)
        ],
        Source.API,
    )
    db.session.commit()
    delivery.run_due()
    version = respond._version(survey.versions[0].id)
    by_order = {}
    for invitation in db.session.scalars(sa.select(Invitation)):
        token = links.invitation_token(invitation.id)
        orders = respond._shown_orders(version, links.token_hash(token))
        by_order.setdefault(str(orders), []).append(
            (f"/s/{token}", invitation.customer_id)
        )
    # 40 people over 120 orders: some share one (the links are fixed by the
    # test's secret key, so this is the same on every run).
    pairs = [people for people in by_order.values() if len(people) >= 2]
    assert pairs, "no two of the 40 people share an option order"
    return pairs[0][:2]


def test_a_fresh_page_kept_for_one_respondent_is_filled_in_for_the_next(
    app, db, survey
):
    (first, first_customer), (second, second_customer) = _two_links(db, survey)
    app.test_client().get(first)  # renders the page and keeps it
    page = app.test_client().get(second).get_data(as_text=True)

    # The second person's page is theirs: their link, their unsubscribe link,
    # their session's CSRF token, and nothing of the first person's.
    token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
    unsubscribe = links.unsubscribe_token(second_customer)
    assert f'action="{second}"' in page and f'data-save-url="{second}/save"' in page
    assert f"/u/{unsubscribe}" in page
    assert first not in page
    assert links.unsubscribe_token(first_customer) not in page
    assert "KARNSLOT" not in page
    # ... and exactly what the templates make of it.
    version = respond._version(survey.versions[0].id)
    orders = respond._shown_orders(version, links.token_hash(second.split("/")[-1]))
    with app.test_request_context(second):
        from flask import g, render_template

        g.respondent_language = "nl"
        g.unsubscribe_token = unsubscribe
        rendered = render_template(
            respond.FORM,
            action=second,
            save_url=f"{second}/save",
            honeypot=respond.HONEYPOT,
            csrf_token=lambda: token,
            **respond.page_context(version.shown, {}, {}, orders, "nl"),
        )
    assert page == rendered


def _wait_for_a_lock_wait(db):
    deadline = time.monotonic() + 10
    with db.engine.connect() as watcher:
        while not watcher.scalar(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
        ):
            assert time.monotonic() < deadline, "the second submission never waited"
            # pg_stat_activity is read once per transaction.
            watcher.rollback()
            time.sleep(0.05)


@pytest.mark.postgres
@pytest.mark.parametrize("saved_first", [False, True], ids=["new", "saved-progress"])
def test_two_simultaneous_submissions_store_one_response(
    app, db, link, monkeypatch, saved_first
):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("concurrent transactions need PostgreSQL (KARN_TEST_DB=postgresql)")
    first, second = app.test_client(), app.test_client()
    tokens = [csrf_token(c, link) for c in (first, second)]
    if saved_first:
        first.post(link + "/save", data={"csrf_token": tokens[0], "q_come_back": "2"})
    submit = responses.submit_invitation
    stored, release = threading.Event(), threading.Event()

    def hold_the_first(**kwargs):
        done = submit(**kwargs)
        if not stored.is_set():
            # Keep this submission's transaction open while the other arrives.
            stored.set()
            release.wait(10)
        return done

    monkeypatch.setattr(responses, "submit_invitation", hold_the_first)
    statuses = {}

    def send(name, browser, token, reason):
        data = {**GOOD, "q_main_reason": reason, "csrf_token": token}
        statuses[name] = browser.post(link, data=data).status_code

    one = threading.Thread(target=send, args=("first", first, tokens[0], "brand"))
    two = threading.Thread(target=send, args=("second", second, tokens[1], "price"))
    one.start()
    try:
        assert stored.wait(10), "the first submission did not get through"
        two.start()
        # The second waits for the first's row: the unique invitation_id of a
        # new response, or the lock of the saved one.
        _wait_for_a_lock_wait(db)
    finally:
        release.set()
        one.join(10)
        if two.ident is not None:
            two.join(10)
    assert statuses == {"first": 302, "second": 302}
    response = stored_response(db)
    assert response.submitted_at is not None
    assert response.primary_reason.value == "brand"
    assert {a.question_key: a.value for a in response.answers}["main_reason"] == (
        "brand"
    )
    assert db.session.scalar(sa.select(sa.func.count(ResponseReason.response_id))) == 6
    assert "al bij ons binnen" in second.get(link).get_data(as_text=True)
