"""Returned mail read the way the mail world means it: who a failure is about,
which recipients it names, and what it costs them. Samples written for these
tests, in the shapes real mail systems send."""

import pytest

from karn.surveys import mail_failures
from karn.surveys.bounces import AUTOREPLY, COMPLAINT, DELAY, FAILURE, parse_bounce
from karn.surveys.mail_failures import (
    ADDRESS_DEAD,
    CONNECTION,
    MAILBOX_STATE,
    SENDER_REFUSED,
)
from karn.surveys.mail_reasons import REASONS, classify_reason, effect_of, host_reason


def dsn(status: str, diagnostic: str, action: str = "failed", extra: str = "") -> bytes:
    """A Postfix-style delivery status notification for one recipient."""
    return (
        "From: MAILER-DAEMON@mx.example.net (Mail Delivery System)\n"
        "To: bounces+42@example.org\n"
        "Subject: Undelivered Mail Returned to Sender\n"
        "Message-ID: <notice.1@mx.example.net>\n"
        "MIME-Version: 1.0\n"
        'Content-Type: multipart/report; report-type=delivery-status; boundary="B"\n'
        "\n--B\nContent-Type: text/plain\n\n"
        "I'm sorry to have to inform you that your message could not be delivered.\n"
        "\n--B\nContent-Type: message/delivery-status\n\n"
        "Reporting-MTA: dns; mx.example.net\n\n"
        "Final-Recipient: rfc822; anna@example.com\n"
        f"Action: {action}\nStatus: {status}\n"
        "Remote-MTA: dns; mx.example.com\n"
        f"Diagnostic-Code: smtp; {diagnostic}\n{extra}"
        "\n--B\nContent-Type: text/rfc822-headers\n\n"
        "From: Survey <survey@example.org>\nTo: anna@example.com\n"
        "Message-ID: <survey.7@example.org>\nX-Karn-Message: 7\n"
        "\n--B--\n"
    ).encode()


@pytest.mark.parametrize(
    ("status", "diagnostic", "reason", "effect"),
    [
        (
            "5.7.1",
            "550 5.7.1 Client host [192.0.2.1] blocked using zen.spamhaus.org",
            "blocked",
            SENDER_REFUSED,
        ),
        (
            "5.7.1",
            "554 5.7.1 Message rejected due to local policy",
            "policy",
            SENDER_REFUSED,
        ),
        (
            "5.7.26",
            "550 5.7.26 Unauthenticated email is not accepted due to the "
            "domain's DMARC policy",
            "auth_failure",
            SENDER_REFUSED,
        ),
        (
            "5.7.1",
            "550 5.7.1 Service refused: reverse DNS (PTR) lookup failed",
            "require_ptr",
            SENDER_REFUSED,
        ),
        (
            "5.7.0",
            "554 5.7.0 Message rejected as spam",
            "spam_detected",
            SENDER_REFUSED,
        ),
        (
            "4.7.0",
            "421 4.7.0 Messages temporarily deferred due to user complaints",
            "bad_reputation",
            SENDER_REFUSED,
        ),
        ("5.2.2", "552 5.2.2 Mailbox full", "mailbox_full", MAILBOX_STATE),
        ("5.2.1", "550 5.2.1 This mailbox is disabled", "suspended", MAILBOX_STATE),
        (
            "5.3.4",
            "552 5.3.4 Message size exceeds fixed limit",
            "message_too_big",
            MAILBOX_STATE,
        ),
        (
            "5.1.1",
            "550 5.1.1 <anna@example.com>: Recipient address rejected: "
            "User unknown in local recipient table",
            "user_unknown",
            ADDRESS_DEAD,
        ),
        (
            "5.1.2",
            "550 5.1.2 Host or domain name not found",
            "host_unknown",
            ADDRESS_DEAD,
        ),
    ],
)
def test_only_a_reason_about_the_address_makes_it_dead(
    status, diagnostic, reason, effect
):
    bounce = parse_bounce(dsn(status, diagnostic))
    [detail] = bounce.details
    assert (detail.reason, detail.effect) == (reason, effect)
    assert detail.recipient == "anna@example.com"
    assert detail.domain == "example.com"
    assert detail.remote_host == "mx.example.com"
    # The same words in an SMTP reply while sending give the same reason.
    code = int(diagnostic[:3])
    assert mail_failures.classify(code, diagnostic[4:]).reason == reason


def test_every_reason_has_a_label_and_sender_reasons_have_advice():
    for reason in REASONS.values():
        assert str(reason.label)
        if reason.effect in (SENDER_REFUSED, CONNECTION):
            assert reason.advice is not None, reason.code
    assert str(REASONS["auth_failure"].advice).count("DKIM") == 1


def test_user_unknown_after_the_message_was_sent_is_the_recipients_filter():
    text = "550 <anna@example.com>: User unknown (in reply to end of DATA command)"
    assert classify_reason(None, 550, text) == "filtered"
    assert effect_of("filtered") == MAILBOX_STATE


def text_notice(body: str, subject: str = "Undeliverable message", **headers) -> bytes:
    lines = [
        "From: Postmaster <postmaster@mail.example.net>",
        "To: bounces+42@example.org",
        f"Subject: {subject}",
        "Message-ID: <notice.2@mail.example.net>",
    ] + [f"{k.replace('_', '-')}: {v}" for k, v in headers.items()]
    return ("\n".join(lines) + "\nContent-Type: text/plain\n\n" + body).encode()


NOTES_LIKE = text_notice(
    "Your message\n\n  Subject: Why did you leave?\n\nwas not delivered to:\n\n"
    "  jan@example.com\n\nbecause:\n\n"
    "  User jan (jan@example.com) not listed in Domino Directory\n"
)
GROUPS_LIKE = text_notice(
    "Hello bounces+42@example.org,\n\n"
    "We're writing to let you know that the group you tried to contact (leavers) "
    "may not exist, or you may not have permission to post messages to the "
    "group.\n\n----- Original message -----\n\n"
    "Message-ID: <survey.9@example.org>\nTo: leavers@example.com\n\nHello\n",
    subject="Delivery Status Notification (Failure)",
    X_Failed_Recipients="leavers@example.com",
)
EXCHANGE_LIKE = text_notice(
    "Your message\n\n  Sent:    Tue, 5 Mar 2024 10:00:00 +0100\n\n"
    "did not reach the following recipient(s):\n\n"
    "piet@example.com on Tue, 5 Mar 2024 10:00:03 +0100\n"
    "    The recipient name is not recognized\n"
)


def test_a_notes_like_no_such_user_is_a_dead_address():
    [detail] = parse_bounce(NOTES_LIKE).details
    assert (detail.recipient, detail.reason, detail.effect) == (
        "jan@example.com",
        "user_unknown",
        ADDRESS_DEAD,
    )


def test_an_exchange_like_unknown_recipient_is_a_dead_address():
    [detail] = parse_bounce(EXCHANGE_LIKE).details
    assert (detail.recipient, detail.effect) == ("piet@example.com", ADDRESS_DEAD)


def test_a_groups_notice_names_the_group_and_does_not_call_it_dead():
    # "may not exist, or you may not have permission": not proof either way.
    bounce = parse_bounce(GROUPS_LIKE)
    assert bounce.recipients == ["leavers@example.com"]
    assert bounce.details[0].effect != ADDRESS_DEAD
    assert bounce.message_ids == ["<survey.9@example.org>"]


def test_message_ids_pipes_and_bare_hosts_are_never_recipients():
    raw = text_notice(
        "This message was created automatically by mail delivery software.\n\n"
        "A message that you sent could not be delivered to one or more of its\n"
        "recipients. This is a permanent error. The following address(es) failed:\n\n"
        "  pipe to |/usr/local/bin/survey-filter sanne@example.com\n"
        "    generated by sanne@example.com\n\n"
        "  kees@example.com\n"
        "    SMTP error from remote mail server after RCPT TO:<kees@example.com>:\n"
        "    host mx.example.com [192.0.2.5]: 550 5.1.1 <kees@example.com>... "
        "User unknown\n\n"
        "Message-ID: <20240305100000.ABC123@mail.example.net>\n"
        "Final-Recipient: rfc822; @mx.example.com\n\n"
        "------ This is a copy of the message, including all the headers. ------\n\n"
        "Message-ID: <survey.11@example.org>\nTo: kees@example.com\n\nHello\n",
        subject="Mail delivery failed: returning message to sender",
    )
    bounce = parse_bounce(raw)
    assert bounce.recipients == ["kees@example.com"]
    assert "<survey.11@example.org>" in bounce.message_ids


def test_two_recipients_come_out_as_two_each_with_its_own_reason():
    raw = text_notice(
        "Hi. This is the qmail-send program at mail.example.net.\n"
        "I'm afraid I wasn't able to deliver your message to the following "
        "addresses.\nThis is a permanent error; I've given up.\n\n"
        "<anna@example.com>:\n192.0.2.25 does not like recipient.\n"
        "Remote host said: 550 5.1.1 <anna@example.com>: Recipient address "
        "rejected: User unknown\nGiving up on 192.0.2.25.\n\n"
        "<bram@example.com>:\n192.0.2.25 does not like recipient.\n"
        "Remote host said: 552 5.2.2 <bram@example.com>: Mailbox full\n"
        "Giving up on 192.0.2.25.\n\n"
        "--- Below this line is a copy of the message.\n\nSubject: Hello\n",
        subject="failure notice",
    )
    bounce = parse_bounce(raw)
    assert [(d.recipient, d.reason, d.effect) for d in bounce.details] == [
        ("anna@example.com", "user_unknown", ADDRESS_DEAD),
        ("bram@example.com", "mailbox_full", MAILBOX_STATE),
    ]
    assert bounce.karn_ids == [42]


def test_a_success_notice_is_not_a_failure():
    raw = dsn("2.0.0", "250 2.0.0 Ok: queued as 4D5E6", action="relayed")
    assert parse_bounce(raw) is None
    raw = dsn("2.0.0", "250 2.0.0 Ok", action="delivered")
    assert parse_bounce(raw) is None


def test_a_delay_warning_is_a_delay():
    bounce = parse_bounce(
        dsn("4.4.1", "connect to mx.example.com timed out", "delayed")
    )
    assert bounce.kind == DELAY
    assert not bounce.is_failure


@pytest.mark.parametrize(
    "raw",
    [dsn("5.1.1", "550 5.1.1 User unknown"), NOTES_LIKE, GROUPS_LIKE, EXCHANGE_LIKE],
)
def test_crlf_lf_and_bare_cr_read_the_same(raw):
    lf = parse_bounce(raw)
    crlf = parse_bounce(raw.replace(b"\n", b"\r\n"))
    cr = parse_bounce(raw.replace(b"\n", b"\r"))
    assert lf is not None
    assert lf == crlf == cr


ARF = (
    b"From: feedback@fbl.example.net\nTo: abuse@example.org\n"
    b"Subject: Abuse report\nMessage-ID: <report.1@fbl.example.net>\n"
    b"MIME-Version: 1.0\nContent-Type: multipart/report; report-type=feedback-report; "
    b'boundary="F"\n\n--F\nContent-Type: text/plain\n\n'
    b"This is an email abuse report for an email message received from "
    b"192.0.2.1.\n\n--F\nContent-Type: message/feedback-report\n\n"
    b"Feedback-Type: abuse\nUser-Agent: ExampleFBL/1.0\nVersion: 1\n"
    b"Original-Mail-From: <bounces+77@example.org>\n"
    b"Original-Rcpt-To: <lisa@example.com>\n"
    b"\n--F\nContent-Type: message/rfc822\n\n"
    b"From: Survey <survey@example.org>\nTo: redacted@example.com\n"
    b"Message-ID: <survey.77@example.org>\nX-Karn-Message: 77\nSubject: Hello\n\n"
    b"Hello\n\n--F--\n"
)


def test_an_arf_complaint_names_the_original_message():
    bounce = parse_bounce(ARF, "bounces@example.org")
    assert bounce.kind == COMPLAINT
    assert bounce.feedback_type == "abuse"
    assert bounce.message_ids == ["<survey.77@example.org>"]
    assert bounce.karn_ids == [77]
    assert bounce.recipients == ["lisa@example.com"]
    assert not bounce.is_failure


def test_a_forwarded_feedback_loop_mail_is_a_complaint():
    raw = (
        b"From: staff@fbl.example.net\nTo: abuse@example.org\n"
        b"Subject: complaint about message from 192.0.2.1\n"
        b'MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="M"\n\n'
        b"--M\nContent-Type: message/rfc822\n\n"
        b"X-HmXmrOriginalRecipient: lisa@example.com\n"
        b"From: Survey <survey@example.org>\nTo: lisa@example.com\n"
        b"Message-ID: <survey.78@example.org>\nSubject: Hello\n\nHello\n\n--M--\n"
    )
    bounce = parse_bounce(raw)
    assert (bounce.kind, bounce.recipients) == (COMPLAINT, ["lisa@example.com"])
    assert bounce.message_ids == ["<survey.78@example.org>"]


def test_unrecognised_mail_stays_unclassified():
    raw = text_notice(
        "Thanks for the survey, I left because of the price.\n",
        subject="Re: Why did you leave?",
        In_Reply_To="<survey.1@example.org>",
    )
    raw = raw.replace(b"postmaster@mail.example.net", b"anna@example.com")
    assert parse_bounce(raw) is None
    auto = text_notice("I am away until Monday.\n", subject="Out of office")
    auto = auto.replace(
        b"Postmaster <postmaster@mail.example.net>", b"anna@example.com"
    )
    assert parse_bounce(auto).kind == AUTOREPLY


def test_a_refused_sender_at_mail_from_is_never_the_customers():
    failure = mail_failures.classify(550, "5.1.1 User unknown", mail_failures.MAIL_FROM)
    assert (failure.kind, failure.reason) == (SENDER_REFUSED, "rejected")
    assert FAILURE == "failure"


# --- the last rules: stage, hedges, codes and providers ------------------------


def test_a_relayed_user_unknown_with_no_code_and_no_command_is_not_dead():
    # Nothing shows the reply answered RCPT TO rather than the message.
    text = "mx.example.com[192.0.2.7] said: 550 <anna@example.com>: User unknown"
    assert classify_reason(None, 550, text) == "filtered"
    assert classify_reason("5.0.0", 550, text) == "filtered"
    at_rcpt = text + " (in reply to RCPT TO command)"
    assert classify_reason(None, 550, at_rcpt) == "user_unknown"
    # A notice's own verdict without any reply code stays an unknown user.
    assert classify_reason(None, None, "Unknown user: anna@example.com") == (
        "user_unknown"
    )


def test_an_address_code_in_the_words_outranks_a_bare_5_0_0_field():
    raw = dsn("5.0.0", "550 5.1.0 <anna@example.com>: Recipient address rejected")
    [detail] = parse_bounce(raw).details
    assert detail.status == "5.1.0"
    assert detail.effect != SENDER_REFUSED


def test_a_hedged_blocklist_mention_does_not_hide_a_missing_domain():
    text = (
        "The mail server could not deliver mail to anna@example.com. The account "
        "or domain may not exist, they may be blacklisted, or missing the proper "
        "dns entries."
    )
    assert classify_reason(None, None, text, "failed") == "host_unknown"
    assert classify_reason(None, 550, "550 blacklisted at dnsbl.example.net") == (
        "blocked"
    )


def test_being_called_an_open_relay_is_a_block_not_a_relaying_refusal():
    text = "501 <survey@example.org>... refused: 192.0.2.1 is an open relay"
    assert classify_reason(None, 501, text) == "blocked"
    assert classify_reason(None, 550, "550 relaying denied") == "no_relaying"


def test_a_temporary_security_code_gives_way_to_specific_words():
    text = "451 4.7.650 The mail server has been rate limited due to IP reputation"
    assert classify_reason("4.7.650", 451, text) == "bad_reputation"
    # Words about the address never turn a 4.7.x refusal into the customer's.
    assert classify_reason("4.7.1", 451, "451 4.7.1 User unknown, try later") == (
        "blocked"
    )


@pytest.mark.parametrize(
    ("status", "text", "reason"),
    [
        (None, "550 Virus found; content rejected", "virus_detected"),
        ("5.2.3", "552 5.2.3 Message length exceeds administrative limit", None),
        (None, "554 mx.example.com ESMTP not accepting connections", "blocked"),
    ],
)
def test_more_wordings(status, text, reason):
    expected = reason or "exceed_limit"
    assert classify_reason(status, None, text) == expected


@pytest.mark.parametrize(
    ("host", "domain", "text", "status", "stage", "reason"),
    [
        (
            "smtp-in.orange.fr",
            "example.com",
            "550 5.5.0 Adresse invalide. Invalid recipient. OFR007_416",
            "5.5.0",
            "data",
            "user_unknown",
        ),
        (
            "smtpz.laposte.net",
            "example.com",
            "550 5.5.0 Recipient account blocked. LPN007_426",
            "5.5.0",
            None,
            "suspended",
        ),
        (
            "mta5.am0.yahoodns.net",
            "example.com",
            "554 delivery error: dd This user doesn't have a example.com account",
            "5.0.0",
            "data",
            "user_unknown",
        ),
        (
            "lsean.ezweb.ne.jp",
            "example.com",
            "550 <anna@example.com>: User unknown",
            None,
            None,
            "user_unknown",
        ),
        (
            "lsean.ezweb.ne.jp",
            "example.com",
            "550 : User unknown",
            None,
            None,
            "filtered",
        ),
        (
            "mx.example.net",
            "cox.net",
            "550 5.1.0 sender rejected. AUP#CXBL",
            "5.1.0",
            None,
            "blocked",
        ),
        (
            None,
            "charter.net",
            "550 5.1.0 sender rejected. AUP#In-1350",
            "5.1.0",
            None,
            "rate_limited",
        ),
        (
            "mx1.qq.com",
            "example.com",
            "550 Ip frequency limited, blocked IP 192.0.2.1",
            "5.0.0",
            None,
            "rate_limited",
        ),
        (
            "mfsmax.docomo.ne.jp",
            "example.com",
            "550 Unknown user anna@example.com",
            "5.0.0",
            "data",
            "rejected",
        ),
        (
            "aspmx.l.google.com",
            "googlegroups.com",
            "The group you tried to contact may not exist",
            None,
            None,
            "rejected",
        ),
        # Not the provider's host: no provider reading.
        (
            "mx.example.com",
            "example.com",
            "550 Invalid recipient. LPN007_416",
            "5.5.0",
            None,
            None,
        ),
    ],
)
def test_a_providers_documented_codes_and_wordings(
    host, domain, text, status, stage, reason
):
    assert host_reason(host, domain, text, status, stage) == reason


def test_a_provider_rule_reaches_the_bounce_reader():
    raw = dsn(
        "5.5.0",
        "550 5.5.0 Adresse invalide. Invalid recipient. LPN007_416",
        extra="",
    ).replace(b"dns; mx.example.com", b"dns; smtpz4.laposte.net")
    [detail] = parse_bounce(raw).details
    assert (detail.reason, detail.effect) == ("user_unknown", ADDRESS_DEAD)
