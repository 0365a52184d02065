"""Outbound webhooks, posted to a real HTTP receiver on this machine.

Every request is checked with the standardwebhooks package's own verifier.
The receiver is on 127.0.0.1, a loopback address: its endpoints allow private
addresses, except where the refusal itself is tested.
"""

import json
import threading
import time
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sqlalchemy as sa
from standardwebhooks import Webhook

from karn import clock
from karn.webhooks import delivery, events, subscribers
from karn.webhooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from karn.webhooks.views import new_secret
from tests.conftest import csrf_token


class Receiver:
    """A real HTTP server: answers each POST with the next planned status
    (then `default`), and keeps what it received."""

    def __init__(self):
        self.requests = []  # (path, headers, body bytes)
        self.plan = []
        self.default = 204
        self.delay = 0.0  # seconds before answering
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                receiver.requests.append((self.path, dict(self.headers), body))
                if receiver.delay:
                    time.sleep(receiver.delay)
                status = receiver.plan.pop(0) if receiver.plan else receiver.default
                self.send_response(status)
                if 300 <= status < 400:
                    self.send_header("Location", "/elsewhere")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def verified(self, secret):
        """Every request checked with standardwebhooks' verifier: (id, payload)."""
        return [
            (headers["webhook-id"], Webhook(secret).verify(body, headers))
            for _path, headers, body in self.requests
        ]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receiver():
    running = Receiver()
    yield running
    running.stop()


@pytest.fixture
def later():
    """Move Karn's clock forward (retries and leases are due by it)."""
    start = clock.now()

    def move(**delta):
        clock.freeze(start + timedelta(**delta))

    yield move
    clock.freeze(None)


@pytest.fixture
def make_endpoint(db):
    def make(url, events_=events.EVENTS, **fields):
        fields.setdefault("allow_private", True)
        endpoint = WebhookEndpoint(
            url=url, secret=new_secret(), events=list(events_), failures=0, **fields
        )
        db.session.add(endpoint)
        db.session.commit()
        subscribers.invalidate()
        return endpoint

    return make


@pytest.fixture
def call_note(db, create_customer, create_user):
    """Log a call with a note on a new customer, the way the call page does."""
    from karn.callbacks import operations
    from karn.callbacks.models import CallTask
    from karn.enums import CallOutcome, CallTaskSource

    def log(text="Vond het te duur", **customer_fields):
        customer = create_customer(**customer_fields)
        caller = create_user("staff")
        task = CallTask(customer=customer, source=CallTaskSource.MANUAL)
        db.session.add(task)
        db.session.flush()
        note = operations.log_call(
            task, caller, CallOutcome.REACHED, reasons=["price"], text=text
        )
        db.session.commit()
        return customer, note

    return log


def deliveries(db, endpoint=None):
    query = sa.select(WebhookDelivery).order_by(WebhookDelivery.id)
    if endpoint is not None:
        query = query.where(WebhookDelivery.endpoint_id == endpoint.id)
    db.session.expire_all()
    return db.session.scalars(query).all()


def run(name="worker-a"):
    return delivery.run_pass(name)


def test_a_call_note_arrives_signed_and_is_never_sent_again(
    db, receiver, make_endpoint, call_note
):
    endpoint = make_endpoint(receiver.url)
    customer, note = call_note(text="Te duur", email="anna@example.com")
    report = run()
    assert report.delivered == 1
    [(webhook_id, payload)] = receiver.verified(endpoint.secret)
    assert payload["type"] == "call_note.created"
    assert payload["data"]["customer"] == {"id": customer.id}
    assert payload["data"]["call_note"]["outcome"] == "reached"
    assert payload["data"]["call_note"]["reasons"] == ["price"]
    # Not marked for personal fields: no text, no address.
    assert "Te duur" not in json.dumps(payload)
    assert "anna@example.com" not in json.dumps(payload)
    [item] = deliveries(db)
    assert item.message_id == webhook_id and item.status == "delivered"

    for _ in range(3):
        run()
    assert len(receiver.requests) == 1


def test_a_failing_receiver_gets_retries_with_the_same_id_until_it_recovers(
    db, receiver, make_endpoint, call_note, later
):
    endpoint = make_endpoint(receiver.url, [events.CALL_NOTE_CREATED])
    receiver.plan = [500, 503]
    call_note()
    assert run().retried == 1
    assert run().retried == 0  # not due yet: the wait has only begun
    assert len(receiver.requests) == 1
    later(hours=7)
    run()
    later(hours=14)
    run()
    later(hours=21)
    run()
    ids = [webhook_id for webhook_id, _payload in receiver.verified(endpoint.secret)]
    assert len(ids) == 3 and len(set(ids)) == 1
    [item] = deliveries(db)
    assert item.status == "delivered" and item.attempts == 3
    codes = [a.status_code for a in item.attempt_log]
    assert codes == [500, 503, 204]


def test_a_worker_that_dies_after_claiming_leaves_a_retry_with_the_same_id(
    db, receiver, make_endpoint, call_note, later
):
    endpoint = make_endpoint(receiver.url)
    call_note()
    [item] = deliveries(db)
    # A worker claims it and dies before recording anything; it may even have
    # posted it already.
    assert delivery.claim("host-gone:1") == [item.id]
    from karn.webhooks import sender

    sender.post(
        endpoint.url,
        endpoint.secret,
        item.message_id,
        item.body.encode(),
        allow_private=True,
        timeout=5,
    )
    run("worker-b")
    assert len(receiver.requests) == 1  # its lease still holds
    later(minutes=10)
    report = run("worker-b")
    assert report.released == 1 and report.delivered == 1
    ids = [webhook_id for webhook_id, _p in receiver.verified(endpoint.secret)]
    assert ids == [item.message_id, item.message_id]
    run("worker-b")
    assert len(receiver.requests) == 2


def test_a_redirect_is_not_followed(db, receiver, make_endpoint, call_note):
    make_endpoint(receiver.url)
    receiver.plan = [302]
    call_note()
    run()
    assert [path for path, _h, _b in receiver.requests] == ["/hook"]
    [item] = deliveries(db)
    assert item.status == "pending" and item.last_status == 302
    assert "not followed" in item.last_error


def test_loopback_is_refused_until_an_admin_allows_it(
    db, client, receiver, make_endpoint, call_note, create_user, login
):
    endpoint = make_endpoint(receiver.url, allow_private=False)
    call_note()
    run()
    assert receiver.requests == []
    [item] = deliveries(db)
    assert "private or loopback" in item.last_error

    login(create_user("admin"))
    page = f"/admin/webhooks/{endpoint.id}"
    token = csrf_token(client, page)
    response = client.post(
        page,
        data={
            "csrf_token": token,
            "url": receiver.url,
            "events": list(events.EVENTS),
            "allow_private": "y",
            "enabled": "y",
        },
    )
    assert response.status_code == 302
    db.session.expire_all()
    assert db.session.get(WebhookEndpoint, endpoint.id).allow_private
    db.session.execute(sa.update(WebhookDelivery).values(due_at=clock.now()))
    db.session.commit()
    run()
    assert len(receiver.verified(endpoint.secret)) == 1


def test_an_endpoint_that_keeps_failing_is_switched_off_and_admins_are_told(
    db, app, client, receiver, make_endpoint, call_note, create_user, login
):
    app.config.update(WEBHOOK_MAX_ATTEMPTS=1, WEBHOOK_DISABLE_AFTER=2)
    admin = create_user("admin", language="nl")
    endpoint = make_endpoint(receiver.url)
    receiver.default = 500
    for _ in range(3):
        call_note()
    report = run()
    assert report.failed == 2 and report.disabled == [endpoint.id]
    assert len(receiver.requests) == 2  # the third waits, untried
    db.session.expire_all()
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    assert not endpoint.enabled and "500" in endpoint.disabled_reason
    assert [d.status for d in deliveries(db)] == ["failed", "failed", "pending"]

    from karn.accounts.models import AuditEntry
    from karn.surveys.models import OutboxMessage

    assert db.session.scalar(
        sa.select(AuditEntry).where(AuditEntry.action == "webhook.disable")
    )
    mail = db.session.scalars(
        sa.select(OutboxMessage).where(OutboxMessage.kind == "webhook_disabled")
    ).one()
    assert mail.to_address == admin.email and receiver.url in mail.body_text
    # The error Karn stored in English reaches the Dutch administrator in Dutch.
    assert "Het eindpunt antwoordde met HTTP 500." in mail.body_text

    login(admin)
    overview = client.get("/admin/webhooks/?lang=en").get_data(as_text=True)
    assert "switched 1 webhook endpoint off" in overview
    page = client.get(f"/admin/webhooks/{endpoint.id}").get_data(as_text=True)
    assert 'id="endpoint-disabled"' in page and "HTTP 500" in page
    page = client.get(f"/admin/webhooks/{endpoint.id}?lang=nl").get_data(as_text=True)
    assert "Het eindpunt antwoordde met HTTP 500." in page
    assert "The endpoint answered" not in page

    # Switched on again, the waiting delivery goes out.
    receiver.default = 204
    client.post(
        f"/admin/webhooks/{endpoint.id}",
        data={
            "csrf_token": csrf_token(client, f"/admin/webhooks/{endpoint.id}"),
            "url": receiver.url,
            "events": list(events.EVENTS),
            "allow_private": "y",
            "enabled": "y",
        },
    )
    assert run().delivered == 1
    assert "disabled-webhooks" not in client.get("/account").get_data(as_text=True)


def test_personal_fields_leave_only_to_endpoints_marked_for_them(
    db, receiver, make_endpoint, call_note
):
    plain = make_endpoint(receiver.url + "?plain", [events.CALL_NOTE_CREATED])
    personal = make_endpoint(
        receiver.url + "?personal", [events.CALL_NOTE_CREATED], personal=True
    )
    customer, _note = call_note(
        text="Bel me na de zomer", email="bea@example.com", name="Bea Visser"
    )
    run()
    by_path = {path: (headers, body) for path, headers, body in receiver.requests}
    headers, body = by_path["/hook?personal"]
    data = Webhook(personal.secret).verify(body, headers)["data"]
    assert data["call_note"]["text"] == "Bel me na de zomer"
    assert data["customer"]["email"] == "bea@example.com"
    assert data["customer"]["id"] == customer.id
    headers, body = by_path["/hook?plain"]
    data = Webhook(plain.secret).verify(body, headers)["data"]
    assert data["customer"] == {"id": customer.id}
    assert "text" not in data["call_note"]
    assert b"Bea" not in body and b"bea@example.com" not in body


def test_personal_fields_written_before_an_endpoint_was_unmarked_stay_home(
    db, receiver, make_endpoint, call_note
):
    endpoint = make_endpoint(receiver.url, [events.CALL_NOTE_CREATED], personal=True)
    call_note(text="Bel me na de zomer", email="bea@example.com", name="Bea Visser")
    [waiting] = deliveries(db)
    assert waiting.personal and b"Bea" in waiting.body.encode()
    # The administrator takes personal fields away before it goes out.
    endpoint = db.session.get(WebhookEndpoint, endpoint.id)
    endpoint.personal = False
    db.session.commit()
    run()
    assert receiver.requests == []
    [item] = deliveries(db)
    assert item.status == "cancelled"
    assert "personal fields" in item.last_error


def test_a_submitted_answer_sends_codes_and_only_personal_endpoints_the_text(
    db, receiver, make_endpoint, create_customer
):
    from karn.surveys import responses
    from karn.surveys.editing import ensure_default_survey

    plain = make_endpoint(receiver.url + "?plain", [events.RESPONSE_SUBMITTED])
    personal = make_endpoint(
        receiver.url + "?personal", [events.RESPONSE_SUBMITTED], personal=True
    )
    customer = create_customer(email="cor@example.com")
    survey, _new = ensure_default_survey()
    version = survey.versions[-1]
    codes = ["service", "quality", "brand", "price", "need", "other"]
    response_id = responses.submit_anonymous(
        version_id=version.id,
        customer_id=customer.id,
        questions=version.questions,
        clean={"main_reason": "price", "keep_you": "Een lagere prijs"},
        shown_orders={"main_reason": codes, "other_reasons": codes},
        lang="nl",
    )
    db.session.commit()
    run()
    by_path = {path: (headers, body) for path, headers, body in receiver.requests}
    headers, body = by_path["/hook?plain"]
    data = Webhook(plain.secret).verify(body, headers)["data"]
    assert data["response"]["id"] == response_id
    assert data["response"]["primary_reason"] == "price"
    assert data["response"]["answers"]["main_reason"] == "price"
    assert b"Een lagere prijs" not in body and b"cor@example.com" not in body
    headers, body = by_path["/hook?personal"]
    data = Webhook(personal.secret).verify(body, headers)["data"]
    assert data["response"]["texts"]["keep_you"] == "Een lagere prijs"
    assert data["customer"]["email"] == "cor@example.com"


def test_a_win_back_is_sent(db, receiver, make_endpoint, create_customer):
    from karn.callbacks import operations

    endpoint = make_endpoint(receiver.url, [events.CUSTOMER_WON_BACK])
    customer = create_customer()
    operations.record_win_back(customer, date.today(), "manual")
    db.session.commit()
    run()
    [(_id, payload)] = receiver.verified(endpoint.secret)
    assert payload["type"] == "customer.won_back"
    assert payload["data"]["customer"] == {"id": customer.id}
    assert payload["data"]["win_back"]["via"] == "manual"


def test_erasure_scrubs_the_log_and_is_sent_as_an_event(
    db, receiver, make_endpoint, call_note
):
    from karn.privacy import operations as privacy

    personal = make_endpoint(receiver.url, personal=True)
    plain = make_endpoint(receiver.url + "?plain", [events.CUSTOMER_ERASED])
    customer, _note = call_note(
        text="Mijn nummer is 0612345678", email="dirk@example.com"
    )
    run()
    # A second note, not yet delivered when the erasure comes.
    from karn.callbacks import operations
    from karn.callbacks.models import CallTask
    from karn.enums import CallOutcome, CallTaskSource

    task = CallTask(customer=customer, source=CallTaskSource.MANUAL)
    db.session.add(task)
    db.session.flush()
    operations.log_call(task, _note.author, CallOutcome.REACHED, text="Nog iets")
    db.session.commit()

    exported = privacy.export_person(customer)["webhook_deliveries"]
    assert len(exported) == 2
    assert exported[0]["body"]["data"]["customer"]["email"] == "dirk@example.com"

    report = privacy.erase_customer(customer)
    db.session.commit()
    assert report.removed["webhook_payloads"] == 2
    bodies = " ".join(d.body for d in deliveries(db))
    assert "dirk@example.com" not in bodies and "0612345678" not in bodies
    assert "Nog iets" not in bodies
    statuses = [(d.event, d.status) for d in deliveries(db, personal)]
    assert statuses == [
        ("call_note.created", "delivered"),
        ("call_note.created", "cancelled"),
        ("customer.erased", "pending"),
    ]
    # Still listed (the receivers got them), but nothing personal is left.
    after = privacy.export_person(customer)["webhook_deliveries"]
    assert after and not any(d["personal"] for d in after)
    assert "dirk@example.com" not in str(after)

    receiver.requests.clear()
    run()
    paths = sorted(path for path, _h, _b in receiver.requests)
    assert paths == ["/hook", "/hook?plain"]
    for path, headers, body in receiver.requests:
        secret = plain.secret if path.endswith("plain") else personal.secret
        payload = Webhook(secret).verify(body, headers)
        assert payload["type"] == "customer.erased"
        assert payload["data"]["customer"] == {"id": customer.id}


def test_an_admin_resends_a_delivery_with_the_same_id(
    db, client, receiver, make_endpoint, call_note, create_user, login
):
    endpoint = make_endpoint(receiver.url)
    call_note()
    run()
    [item] = deliveries(db)
    login(create_user("admin"))
    page = f"/admin/webhooks/{endpoint.id}"
    response = client.post(
        f"{page}/deliveries/{item.id}/resend",
        data={"csrf_token": csrf_token(client, page)},
    )
    assert response.status_code == 302
    run()
    ids = [webhook_id for webhook_id, _p in receiver.verified(endpoint.secret)]
    assert ids == [item.message_id, item.message_id]
    log = client.get(page).get_data(as_text=True)
    assert "2 attempts" in log and item.message_id in log


@pytest.mark.parametrize(
    "lang,texts",
    [
        ("en", ["New endpoint", "Receives personal fields", "Delivery log"]),
        ("nl", ["Nieuw endpoint", "Ontvangt persoonsgegevens", "Bezorglog"]),
    ],
)
def test_admin_adds_an_endpoint_in_either_language(
    db, client, create_user, login, lang, texts
):
    login(create_user("admin"))
    overview = client.get(f"/admin/webhooks/?lang={lang}").get_data(as_text=True)
    assert texts[0] in overview and texts[1] in overview
    response = client.post(
        "/admin/webhooks/",
        data={
            "csrf_token": csrf_token(client, "/admin/webhooks/"),
            "url": "https://crm.example.com/karn",
            "events": [events.RESPONSE_SUBMITTED, events.CUSTOMER_WON_BACK],
        },
    )
    assert response.status_code == 302
    endpoint = db.session.scalars(sa.select(WebhookEndpoint)).one()
    assert endpoint.events == [events.RESPONSE_SUBMITTED, events.CUSTOMER_WON_BACK]
    assert endpoint.enabled and not endpoint.personal and not endpoint.allow_private
    page = client.get(response.location).get_data(as_text=True)
    assert endpoint.secret in page and texts[2] in page
    Webhook(endpoint.secret)  # the format the package takes

    refused = client.post(
        "/admin/webhooks/",
        data={
            "csrf_token": csrf_token(client, "/admin/webhooks/"),
            "url": "ftp://files.example.com/",
            "events": [events.RESPONSE_SUBMITTED],
        },
    )
    assert refused.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(WebhookEndpoint.id))) == 1


def test_a_follow_up_mail_sent_is_a_followup_result(
    db, app, receiver, make_endpoint, create_customer, mail_settings
):
    from karn.enums import ExperimentGroup, ExperimentKind
    from karn.experiments.models import Assignment, Experiment
    from karn.surveys import outbox

    app.config.update(mail_settings)
    endpoint = make_endpoint(receiver.url, [events.FOLLOWUP_RESULT])
    customer = create_customer()
    experiment = Experiment(
        kind=ExperimentKind.FOLLOW_UP, horizon_days=90, treatment_share=0.8
    )
    db.session.add(experiment)
    db.session.flush()
    db.session.add(
        Assignment(
            experiment_id=experiment.id,
            customer_id=customer.id,
            group=ExperimentGroup.TREATED,
            draw=0.1,
            ends_at=clock.now() + timedelta(days=90),
        )
    )
    outbox.enqueue(
        kind="follow_up",
        to_address=customer.email,
        language="nl",
        subject="We hebben het opgelost",
        body_text="Hallo",
        customer_id=customer.id,
    )
    db.session.commit()
    assert outbox.dispatch("mailer").sent == 1
    run()
    [(_id, payload)] = receiver.verified(endpoint.secret)
    assert payload["type"] == "followup.result"
    assert payload["data"] == {
        "experiment": {"id": experiment.id, "kind": "follow_up"},
        "group": "treated",
        "outcome": "sent",
        "customer": {"id": customer.id},
    }


def test_retention_removes_old_finished_deliveries(
    db, receiver, make_endpoint, call_note, later
):
    from karn.privacy import operations as privacy

    make_endpoint(receiver.url)
    call_note()
    run()
    assert db.session.scalar(sa.select(sa.func.count(WebhookAttempt.id))) == 1
    later(days=200)
    report = privacy.enforce_retention()
    assert report.webhook_deliveries == 1
    assert deliveries(db) == []
    assert db.session.scalar(sa.select(sa.func.count(WebhookAttempt.id))) == 0


@pytest.mark.parametrize(
    "address,public",
    [
        ("8.8.8.8", True),
        ("2001:4860:4860::8888", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("169.254.169.254", False),  # cloud metadata
        ("100.64.0.1", False),  # carrier-grade NAT
        ("0.0.0.0", False),
        ("::1", False),
        ("fe80::1", False),
        ("fd00::1", False),
        ("::ffff:127.0.0.1", False),
        # IPv4 inside IPv6: NAT64, 6to4, IPv4-compatible and -translated, and
        # the old site-local range.
        ("64:ff9b::7f00:1", False),
        ("64:ff9b::a9fe:a9fe", False),
        ("64:ff9b::808:808", True),
        ("2002:7f00:1::", False),
        ("2002:a9fe:a9fe::1", False),
        ("::127.0.0.1", False),
        ("::ffff:0:7f00:1", False),
        ("fec0::1", False),
    ],
)
def test_which_addresses_count_as_private(address, public):
    from karn.webhooks import sender

    assert sender.is_public(address) is public


@pytest.mark.parametrize(
    "address, allowed",
    [
        ("127.0.0.1", True),
        ("10.1.2.3", True),
        ("192.168.1.1", True),
        ("fd00::1", True),
        ("::1", True),
        ("169.254.169.254", False),  # the metadata service of most clouds
        ("fe80::1", False),
        ("fd00:ec2::254", False),  # AWS's, over IPv6
        ("100.100.100.200", False),  # Alibaba's
        ("64:ff9b::a9fe:a9fe", False),  # 169.254.169.254 through NAT64
        ("224.0.0.1", False),
        ("0.0.0.0", False),
    ],
)
def test_allowing_private_addresses_never_opens_the_metadata_service(address, allowed):
    """An endpoint on the office network may be allowed; the address where a
    cloud server hands out its credentials never is."""
    from karn.webhooks import sender

    if allowed:
        assert sender.resolve(address, 80, allow_private=True) == address
    else:
        with pytest.raises(sender.Refused, match="no webhook may be sent to"):
            sender.resolve(address, 80, allow_private=True)
    with pytest.raises(sender.Refused):
        sender.resolve(address, 80, allow_private=False)


def test_a_name_that_resolves_to_loopback_is_refused(
    db, receiver, make_endpoint, call_note
):
    port = receiver.server.server_address[1]
    make_endpoint(f"http://localhost:{port}/hook", allow_private=False)
    call_note()
    run()
    assert receiver.requests == []
    [item] = deliveries(db)
    assert "localhost resolves to" in item.last_error


def test_what_went_wrong_is_said_in_the_readers_language(
    db, client, make_endpoint, call_note, create_user, login
):
    import socket

    # A port nothing listens on: the connection is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    endpoint = make_endpoint(f"http://127.0.0.1:{port}/hook")
    call_note()
    run()
    [item] = deliveries(db)
    assert item.last_error == "127.0.0.1 refused the connection."
    # What the receiving side said itself stays as it came.
    db.session.add(
        WebhookAttempt(
            delivery_id=item.id, at=clock.now(), error="OSError: [Errno 113]", ok=False
        )
    )
    db.session.commit()
    login(create_user("admin"))
    for lang, said, not_said in [
        ("nl", "127.0.0.1 weigerde de verbinding.", "refused the connection"),
        ("en", "127.0.0.1 refused the connection.", "weigerde"),
    ]:
        url = f"/admin/webhooks/{endpoint.id}?lang={lang}"
        page = client.get(url).get_data(as_text=True)
        assert said in page and not_said not in page
        assert "OSError: [Errno 113]" in page


def test_a_receiver_that_does_not_answer_in_time_holds_up_nothing(
    db, app, receiver, make_endpoint, call_note
):
    app.config.update(WEBHOOK_TIMEOUT=0.5)
    make_endpoint(receiver.url)
    receiver.delay = 3
    call_note()
    call_note()
    report = run()
    # The first times out; the second waits for a later pass, uncharged.
    assert report.retried == 1 and len(receiver.requests) == 1
    first, second = deliveries(db)
    assert first.last_error == "No whole answer within 0.5 seconds."
    assert first.attempts == 1
    assert second.status == "pending" and second.attempts == 0


def test_a_receiver_that_trickles_its_answer_is_cut_off():
    """Each byte comes within the time limit, the whole answer never does."""
    import socket

    from karn.webhooks import sender

    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    stop = threading.Event()

    def trickle():
        conn, _ = listener.accept()
        with conn:
            conn.recv(65536)
            try:
                for byte in b"HTTP/1.1 200 OK\r\nX-Slow: " + b"a" * 1000:
                    if stop.is_set():
                        return
                    conn.sendall(bytes([byte]))
                    time.sleep(0.05)
            except OSError:
                return

    thread = threading.Thread(target=trickle, daemon=True)
    thread.start()
    try:
        outcome = sender.post(
            f"http://127.0.0.1:{port}/hook",
            new_secret(),
            "msg_trickle",
            b"{}",
            allow_private=True,
            timeout=0.5,
        )
    finally:
        stop.set()
        thread.join()
        listener.close()
    assert not outcome.ok and outcome.status is None
    assert "No whole answer within 1.5 seconds" in outcome.error


def test_only_karns_own_messages_are_translated(app):
    from flask_babel import force_locale

    from karn.formatting import said, stored_text
    from karn.webhooks import sender

    with app.test_request_context(), force_locale("nl"):
        assert said(sender.NO_CONNECTION(host="hooks.example.com")) == (
            "hooks.example.com weigerde de verbinding."
        )
        # A mail server's own words that happen to end the same stay as said.
        reply = "550 mx.example refused the connection."
        assert said(reply) == reply
        detail = sender.UNRESOLVED(host="x.invalid", detail="[Errno -2] Name unknown")
        assert said(detail) == (
            "De hostnaam x.invalid kon niet worden opgezocht: [Errno -2] Name unknown"
        )
    # Only %(name)s parameters, each once: anything else could not be read back.
    for template in ("%(n)d seconds", "100%% sure", "%(a)s and %(a)s"):
        with pytest.raises(ValueError):
            stored_text(template)
