"""Bounce parsing against real-format DSNs, plain-text bounces and auto-replies."""

from pathlib import Path

import pytest

from karn.surveys.bounces import (
    DELAY,
    FAILURE,
    Bounce,
    match_keys,
    outbox_id_from_verp,
    parse_bounce,
    verp_address,
)
from karn.surveys.mail_failures import ADDRESS_DEAD, MAILBOX_STATE, SENDER_REFUSED

DATA = Path(__file__).parent / "data" / "bounces"


def load(name: str) -> bytes:
    """A sample mail from tests/data/bounces."""
    return (DATA / name).read_bytes()


def crlf(raw: bytes) -> bytes:
    """The same mail with the CRLF line ends it has on the wire and in IMAP."""
    return raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


# name, kind, recipients, status, message_ids, karn_ids
SAMPLES = [
    (
        "postfix_user_unknown.eml",
        "failure",
        ["jan.devries@example.com"],
        "5.1.1",
        ["<171023413100.5123.9876543210@karn.example>"],
        [1234],
    ),
    (
        "exim_failed.eml",
        "failure",
        ["p.bakker@hosting-klant.example"],
        None,
        ["<171033600500.777.1111@karn.example>"],
        [77],
    ),
    (
        "gmail_failure.eml",
        "failure",
        ["lisa.smit1987@gmail.com"],
        "5.1.1",
        ["<171023410000.4242.1357924680@karn.example>"],
        [5678],
    ),
    (
        "exchange_online_ndr.eml",
        "failure",
        ["m.jansen@klant.example"],
        "5.1.10",
        ["<171023406200.3131.2468013579@karn.example>"],
        [2468],
    ),
    (
        "exchange_541_text.eml",
        "failure",
        ["piet.deboer@contoso.example"],
        "5.4.1",
        ["<171041310600.2020.5555666677@karn.example>"],
        [3141],
    ),
    (
        "postfix_delayed_mailbox_full.eml",
        "delay",
        ["els.peeters@voorbeeld.example"],
        "4.2.2",
        ["<171049351100.6060.1212121212@karn.example>"],
        [8080],
    ),
    (
        "postfix_quota_522.eml",
        "failure",
        ["kees@provider.example"],
        "5.2.2",
        ["<171057420000.9090.3434343434@karn.example>"],
        [9090],
    ),
    (
        "postfix_spam_571.eml",
        "failure",
        ["r.smits@hotmail.com"],
        "5.7.1",
        ["<171077476400.1111.8989898989@karn.example>"],
        [4711],
    ),
    (
        "qmail_verp_no_original.eml",
        "failure",
        ["sanne@klant.example"],
        "5.1.1",
        [],
        [4321],
    ),
    (
        "ooo_nl_outlook.eml",
        "autoreply",
        ["anouk.visser@klant.example"],
        None,
        ["<171023413100.5123.9876543210@karn.example>"],
        [],
    ),
    (
        "ooo_en_autoresponder.eml",
        "autoreply",
        ["tom@shop.example"],
        None,
        ["<171031680000.999.5656565656@karn.example>"],
        [999],
    ),
]


@pytest.mark.parametrize("line_end", ["lf", "crlf"])
@pytest.mark.parametrize(
    ("name", "kind", "recipients", "status", "message_ids", "karn_ids"),
    SAMPLES,
    ids=[s[0].removesuffix(".eml") for s in SAMPLES],
)
def test_samples(name, kind, recipients, status, message_ids, karn_ids, line_end):
    raw = load(name)
    bounce = parse_bounce(crlf(raw) if line_end == "crlf" else raw)
    assert bounce is not None
    assert bounce.kind == kind
    assert bounce.recipients == recipients
    assert bounce.status == status
    assert bounce.message_ids == message_ids
    assert bounce.karn_ids == karn_ids
    assert bounce.reason


def test_postfix_dsn_details():
    bounce = parse_bounce(load("postfix_user_unknown.eml"))
    assert bounce.diagnostic == (
        "550 5.1.1 <jan.devries@example.com>: Recipient address rejected: "
        "User unknown in virtual mailbox table"
    )
    assert bounce.reason == "user_unknown"
    assert bounce.is_failure
    [detail] = bounce.details
    assert (detail.recipient, detail.original_recipient, detail.action) == (
        "jan.devries@example.com",
        "jan.devries@example.com",
        "failed",
    )


def test_exim_reads_the_reply_code_from_the_text():
    bounce = parse_bounce(load("exim_failed.eml"))
    assert bounce.diagnostic == "550 No such user here"
    assert bounce.reason == "user_unknown"
    assert bounce.details[0].effect == ADDRESS_DEAD


def test_exchange_text_ndr_strips_the_hash_marks():
    bounce = parse_bounce(load("exchange_541_text.eml"))
    assert "550 5.4.1 Recipient address rejected: Access denied." in bounce.diagnostic
    assert not bounce.diagnostic.endswith("#")


def test_delayed_mail_is_a_delay_not_a_failure():
    bounce = parse_bounce(load("postfix_delayed_mailbox_full.eml"))
    assert bounce.kind == DELAY and not bounce.is_failure
    assert bounce.details[0].action == "delayed"
    assert bounce.reason == "mailbox_full"


def test_mailbox_full_522_counts_but_never_kills_the_address():
    bounce = parse_bounce(load("postfix_quota_522.eml"))
    assert bounce.kind == FAILURE
    assert (bounce.reason, bounce.details[0].effect) == ("mailbox_full", MAILBOX_STATE)


def test_a_blocklist_refusal_is_the_senders_not_the_address():
    bounce = parse_bounce(load("postfix_spam_571.eml"))
    assert bounce.reason == "blocked"
    assert bounce.details[0].effect == SENDER_REFUSED


def test_verp_id_is_only_trusted_for_our_envelope_sender():
    raw = load("qmail_verp_no_original.eml")
    assert parse_bounce(raw, "bounces@karn.example").karn_ids == [4321]
    assert parse_bounce(raw, "Karn <Bounces@Karn.example>").karn_ids == [4321]
    assert parse_bounce(raw, "other@karn.example").karn_ids == []


def test_autoreplies_are_not_failures():
    for name in ("ooo_nl_outlook.eml", "ooo_en_autoresponder.eml"):
        bounce = parse_bounce(load(name))
        assert bounce.kind == "autoreply"
        assert not bounce.is_failure
        assert bounce.status is None


@pytest.mark.parametrize(
    "headers",
    [
        b"Subject: Afwezig\n",
        b"Subject: Out of office until Monday\n",
        b"Subject: Re: Waarom ging u weg?\nX-Autoreply: yes\n",
        b"Subject: Re: Waarom ging u weg?\nPrecedence: auto_reply\n",
    ],
)
def test_autoreply_signals(headers):
    raw = (
        b"From: Sam <sam@klant.example>\nTo: enquete@karn.example\n"
        + headers
        + b"Content-Type: text/plain\n\nIk ben er niet.\n"
    )
    assert parse_bounce(raw).kind == "autoreply"


def test_unrelated_mail_is_none():
    # A human reply that even mentions a 550 error is not a bounce.
    assert parse_bounce(load("plain_reply.eml")) is None


def test_success_notice_is_none():
    raw = load("postfix_user_unknown.eml").replace(
        b"Action: failed", b"Action: relayed"
    )
    assert parse_bounce(raw) is None


def replace_status(status: bytes, diagnostic: bytes, action: bytes = b"failed"):
    """The Postfix DSN with other per-recipient fields and no prose."""
    raw = load("postfix_user_unknown.eml")
    head, _, rest = raw.partition(b"Final-Recipient:")
    _, _, tail = rest.partition(b"\n\n--")
    # Drop the human explanation so only the fields decide.
    head = head.replace(b"550 5.1.1", b"").replace(b"User unknown", b"")
    fields = (
        b"Final-Recipient: rfc822; jan.devries@example.com\n"
        b"Action: " + action + b"\n"
        b"Status: " + status + b"\n"
        b"Diagnostic-Code: smtp; " + diagnostic + b"\n"
    )
    return head + fields + b"\n--" + tail


@pytest.mark.parametrize(
    ("status", "diagnostic", "action", "kind", "found_status", "effect"),
    [
        (
            b"4.4.7",
            b"delivery time expired",
            b"failed",
            "failure",
            "4.4.7",
            MAILBOX_STATE,
        ),
        (
            b"4.4.1",
            b"connect to mx timed out",
            b"delayed",
            "delay",
            "4.4.1",
            MAILBOX_STATE,
        ),
        (
            b"5.0.0",
            b"550 Requested action not taken",
            b"failed",
            "failure",
            "5.0.0",
            MAILBOX_STATE,
        ),
        (b"5.0.0", b"552 Mailbox full", b"failed", "failure", "5.0.0", MAILBOX_STATE),
        (
            b"5.0.0",
            b"550 5.1.1 No such user",
            b"failed",
            "failure",
            "5.1.1",
            ADDRESS_DEAD,
        ),
        (
            b"5.1.2",
            b"Host or domain name not found",
            b"failed",
            "failure",
            "5.1.2",
            ADDRESS_DEAD,
        ),
        (
            b"5.7.26",
            b"550 5.7.26 Unauthenticated email",
            b"failed",
            "failure",
            "5.7.26",
            SENDER_REFUSED,
        ),
        (
            b"5.7.1",
            b"550 5.7.1 Client host [192.0.2.9] blocked using zen.spamhaus.org",
            b"failed",
            "failure",
            "5.7.1",
            SENDER_REFUSED,
        ),
        (
            b"5.7.1",
            b"550 5.7.1 Message rejected due to local policy",
            b"failed",
            "failure",
            "5.7.1",
            SENDER_REFUSED,
        ),
        (
            b"5.2.1",
            b"550 5.2.1 The email account that you tried to reach is disabled",
            b"failed",
            "failure",
            "5.2.1",
            MAILBOX_STATE,
        ),
        (
            b"5.3.4",
            b"552 5.3.4 Message size exceeds fixed limit",
            b"failed",
            "failure",
            "5.3.4",
            MAILBOX_STATE,
        ),
    ],
)
def test_status_classification(status, diagnostic, action, kind, found_status, effect):
    bounce = parse_bounce(replace_status(status, diagnostic, action))
    assert (bounce.kind, bounce.status) == (kind, found_status)
    assert bounce.recipients == ["jan.devries@example.com"]
    assert bounce.details[0].effect == effect


def test_worst_recipient_decides_and_names_only_its_recipients():
    raw = load("postfix_user_unknown.eml").replace(
        b"Final-Recipient: rfc822; Jan.DeVries",
        b"Final-Recipient: rfc822; later@example.com\n"
        b"Action: delayed\nStatus: 4.4.1\n\n"
        b"Final-Recipient: rfc822; Jan.DeVries",
    )
    bounce = parse_bounce(raw)
    assert bounce.kind == FAILURE
    assert bounce.recipients == ["jan.devries@example.com"]
    assert [(d.recipient, d.action) for d in bounce.details] == [
        ("later@example.com", "delayed"),
        ("jan.devries@example.com", "failed"),
    ]
    assert bounce.reason == "user_unknown"


def test_truncated_dsn_still_parses():
    raw = load("postfix_user_unknown.eml")
    cut = raw[: raw.index(b"Subject: Waarom")]
    bounce = parse_bounce(cut)
    assert bounce.kind == FAILURE
    assert bounce.recipients == ["jan.devries@example.com"]
    assert bounce.karn_ids == []


def test_unknown_charset_is_tolerated():
    raw = load("exim_failed.eml").replace(b"charset=us-ascii", b"charset=x-no-such")
    bounce = parse_bounce(raw)
    assert (bounce.kind, bounce.recipients) == (
        FAILURE,
        ["p.bakker@hosting-klant.example"],
    )


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"   \r\n\r\n",
        bytes(range(256)) * 4,
        b"\x00\xff\xfe\xfd" * 100,
        b"From: MAILER-DAEMON\n",
        b"Content-Type: multipart/report; report-type=delivery-status\n\n--x\n",
    ],
    ids=["empty", "blank", "all-bytes", "binary", "header-only", "no-boundary"],
)
def test_garbage_does_not_raise(raw):
    result = parse_bounce(raw)
    assert result is None or isinstance(result, Bounce)


@pytest.mark.parametrize("raw", [b"", b"   \r\n\r\n", b"\x00\xff\xfe\xfd" * 100])
def test_garbage_is_none(raw):
    assert parse_bounce(raw) is None


def test_broken_headers_do_not_raise():
    raw = (
        b'From: "unterminated <MAILER-DAEMON@mx.example\n'
        b"To: =?utf-8?q?broken?= <<bounces+12@karn.example>\n"
        b"Subject: =?x-unknown?b?!!!?= Undelivered Mail Returned to Sender\n"
        b"Message-ID: <<@@>>\n"
        b"References: <a@b\n"
        b"Content-Type: text/plain; charset=utf-8\n"
        b"Content-Transfer-Encoding: base64\n\n"
        b"not base64 at all \xff\xfe\n"
    )
    # A notice that names no recipient anywhere is not guessed at.
    assert parse_bounce(raw) is None


def test_text_is_refused():
    with pytest.raises(TypeError):
        parse_bounce("From: MAILER-DAEMON\n\n")


def test_verp_round_trip():
    address = verp_address("bounces@example.nl", 1234)
    assert address == "bounces+1234@example.nl"
    assert outbox_id_from_verp(address) == 1234
    assert outbox_id_from_verp(f"<{address.upper()}>") == 1234
    assert outbox_id_from_verp(address, "Karn <bounces@example.nl>") == 1234
    assert verp_address("Karn <karn+bounces@example.nl>", 7) == (
        "karn+bounces+7@example.nl"
    )
    assert outbox_id_from_verp("karn+bounces+7@example.nl") == 7


@pytest.mark.parametrize(
    "address",
    [
        "bounces@example.nl",
        "bounces+@example.nl",
        "bounces+abc@example.nl",
        "bounces+0@example.nl",
        "bounces+012@example.nl",
        "bounces+-5@example.nl",
        "+12@example.nl",
        "bounces+12",
        "",
    ],
)
def test_not_verp(address):
    assert outbox_id_from_verp(address) is None


def test_verp_checks_the_base_address():
    # A customer's own tagged address is not ours.
    assert outbox_id_from_verp("jan+2024@gmail.com") == 2024
    assert outbox_id_from_verp("jan+2024@gmail.com", "bounces@example.nl") is None


@pytest.mark.parametrize(
    ("envelope_from", "outbox_id"),
    [("no-at-sign", 1), ("bounces@example.nl", 0), ("bounces@example.nl", -3)],
)
def test_verp_address_refuses_bad_input(envelope_from, outbox_id):
    with pytest.raises(ValueError):
        verp_address(envelope_from, outbox_id)


def test_match_keys():
    bounce = parse_bounce(load("gmail_failure.eml"))
    assert match_keys(bounce) == (
        ["<171023410000.4242.1357924680@karn.example>"],
        [5678],
    )


def test_a_notice_passed_on_inside_another_names_its_own_recipients():
    # A gateway wraps the notice it was sent and names no one itself; the
    # wrapped notice's addressee is our sender, not a failed recipient.
    inner = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@relay.example.net>\n"
        "To: survey@example.org\n"
        "Subject: Returned mail: User unknown\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="I"\n'
        "\n--I\nContent-Type: text/plain\n\n"
        "   ----- The following addresses had permanent delivery errors -----\n"
        "sara@example.com\n"
        "\n--I\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; relay.example.net\n\n"
        "Final-Recipient: rfc822; sara@example.com\n"
        "Action: failed\nStatus: 5.1.1\n"
        "Diagnostic-Code: smtp; 550 5.1.1 User unknown\n"
        "\n--I\nContent-Type: text/rfc822-headers\n\n"
        "From: survey@example.org\nTo: sara@example.com\n"
        "Message-ID: <survey.31@example.org>\n"
        "\n--I--\n"
    )
    raw = (
        "From: Mail Delivery Subsystem <MAILER-DAEMON@gateway.example.net>\n"
        "To: notices@gateway.example.net\n"
        "Subject: Returned mail: User unknown\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/mixed; boundary="O"\n'
        "\n--O\nContent-Type: text/plain\n\n"
        "----- The following addresses had permanent delivery errors -----\n"
        "\n--O\nContent-Type: message/rfc822\n\n" + inner + "\n--O--\n"
    ).encode()
    bounce = parse_bounce(raw)
    assert bounce.recipients == ["sara@example.com"]
    assert (bounce.details[0].reason, bounce.details[0].effect) == (
        "user_unknown",
        ADDRESS_DEAD,
    )
    assert "<survey.31@example.org>" in bounce.message_ids


def test_a_transcript_belongs_to_the_recipient_it_precedes():
    # One host refused our sender at MAIL FROM; another recipient's own line
    # names a missing domain, which that refusal says nothing about.
    raw = (
        b"From: Mail Delivery Subsystem <MAILER-DAEMON@mail.example.net>\n"
        b"To: survey@example.org\n"
        b"Subject: Returned mail: Host unknown\n\n"
        b"   ----- Transcript of session follows -----\n"
        b"While talking to mx.example.com:\n"
        b">>> MAIL From:<survey@example.org>\n"
        b"<<< 501 <survey@example.org>... refused: your server is listed "
        b"on a blocklist\n"
        b"554 <tom@example.com>... Service unavailable\n"
        b"554 <ina@example.net>... 550 Host unknown (Authoritative answer)\n"
        b"\n   ----- Unsent message follows -----\n"
        b"From: survey@example.org\nTo: tom@example.com\nSubject: Hello\n\nHi\n"
    )
    details = {d.recipient: d for d in parse_bounce(raw).details}
    assert details["tom@example.com"].reason == "blocked"
    assert details["tom@example.com"].effect == SENDER_REFUSED
    assert details["ina@example.net"].reason == "host_unknown"
    assert details["ina@example.net"].effect == ADDRESS_DEAD
