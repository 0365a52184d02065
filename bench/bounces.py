"""Returned mail read the way the mail world means it: Karn's bounce reader
against a labelled folder of real notices, with flufl.bounce beside it.

    .venv/bin/python bench/bounces.py DIR [--no-flufl] [--verbose]

DIR is laid out like shared/realworld/bounces: ``eml/*.eml`` and
``expected.jsonl`` (per file its ``family``, ``kind`` - bounce, complaint,
autoreply or not_a_bounce - and per failed recipient ``address``, Sisimai's
``reason`` and ``hard`` flag). Every file goes through ``parse_bounce``, the
function the worker's bounce poll uses. Prints the misses per mail-system
family, then one JSON line:

- ``bounces_detected``: bounce files read as a failure or a delay notice;
- ``complaints_detected``: complaint files read as a complaint;
- ``recipients_right``: expected addresses we report / all expected addresses;
- ``reasons_agree``: expected recipients whose reason (Sisimai's mapped onto
  ours) we give too;
- ``dead_address_agreement``: expected recipients where we say ADDRESS_DEAD
  exactly where Sisimai says hard;
- ``wrongly_undeliverable``: recipients Sisimai gives a sender-side, mailbox
  or transient reason that we call ADDRESS_DEAD;
- ``invented_recipients``: addresses we report as failed that are not among a
  file's expected ones, over all files;
- ``false_failures``: auto-replies and other mail read as a failure;
- ``unclassified``: bounce and complaint files we return None for;
- ``verdicts_sha256``: a digest of every verdict, to compare runs on the same
  files with other line ends;
- ``flufl_*``: the same detection and recipient figures for flufl.bounce.
"""

import argparse
import email
import email.policy
import hashlib
import json
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from karn.surveys import bounces  # noqa: E402
from karn.surveys.mail_failures import ADDRESS_DEAD  # noqa: E402

# Sisimai's reason names mapped onto Karn's (karn.surveys.mail_reasons).
SISIMAI_REASONS = {
    "userunknown": "user_unknown",
    "hostunknown": "host_unknown",
    "hasmoved": "has_moved",
    "notaccept": "not_accept",
    "mailboxfull": "mailbox_full",
    "suspend": "suspended",
    "expired": "expired",
    "mesgtoobig": "message_too_big",
    "exceedlimit": "exceed_limit",
    "filtered": "filtered",
    "contenterror": "content_error",
    "notcompliantrfc": "content_error",
    "spamdetected": "spam_detected",
    "virusdetected": "virus_detected",
    "policyviolation": "policy",
    "authfailure": "auth_failure",
    "blocked": "blocked",
    "badreputation": "bad_reputation",
    "requireptr": "require_ptr",
    "rejected": "rejected",
    "toomanyconn": "rate_limited",
    "speeding": "rate_limited",
    "norelaying": "no_relaying",
    "securityerror": "security_error",
    "networkerror": "network_error",
    "systemerror": "system_error",
    "systemfull": "system_error",
    "syntaxerror": "system_error",
    "mailererror": "mailer_error",
    "onhold": "on_hold",
    "undefined": "undefined",
}

# Reasons that say nothing against the address: ADDRESS_DEAD for one of these
# would silence a customer who can be reached.
NOT_DEAD = {
    "blocked",
    "policyviolation",
    "authfailure",
    "spamdetected",
    "badreputation",
    "requireptr",
    "rejected",
    "toomanyconn",
    "securityerror",
    "virusdetected",
    "contenterror",
    "norelaying",
    "networkerror",
    "systemerror",
    "mailererror",
    "exceedlimit",
    "mesgtoobig",
    "expired",
    "mailboxfull",
    "suspend",
    "onhold",
}

FAILURE_KINDS = (bounces.FAILURE, bounces.DELAY)


def verdict(bounce):
    """(kind, [(address, reason, effect)]) of a parse result."""
    if bounce is None:
        return None, []
    return bounce.kind, [(d.recipient, d.reason, d.effect) for d in bounce.details]


def flufl_verdict(raw):
    """(found anything, addresses) by flufl.bounce, or None when not installed."""
    try:
        from flufl.bounce import all_failures
    except ImportError:
        return None
    message = email.message_from_bytes(raw, policy=email.policy.compat32)
    try:
        temporary, permanent = all_failures(message)
    except Exception:
        return False, set()
    found = {
        (a.decode(errors="replace") if isinstance(a, bytes) else a).lower()
        for a in set(temporary) | set(permanent)
    }
    return bool(found), found


def ratio(part, whole):
    return round(part / whole, 4) if whole else 1.0


def run(folder: Path, use_flufl: bool, verbose: bool) -> dict:
    rows = [json.loads(line) for line in (folder / "expected.jsonl").open()]
    counts = defaultdict(int)
    misses = defaultdict(list)
    digest = hashlib.sha256()
    for row in rows:
        raw = (folder / row["file"]).read_bytes()
        name = Path(row["file"]).name
        kind, found = verdict(bounces.parse_bounce(raw))
        digest.update(json.dumps([name, kind, found]).encode())
        expected = row["kind"]
        by_address = {a: (r, e) for a, r, e in found}
        wanted = {r["address"] for r in row["recipients"] if r["address"]}
        note = []
        if expected == "bounce":
            counts["bounces"] += 1
            counts["bounces_detected"] += kind in FAILURE_KINDS
            if kind not in FAILURE_KINDS:
                note.append(f"read as {kind}")
        elif expected == "complaint":
            counts["complaints"] += 1
            counts["complaints_detected"] += kind == bounces.COMPLAINT
            if kind != bounces.COMPLAINT:
                note.append(f"read as {kind}")
        elif kind in FAILURE_KINDS:
            counts["false_failures"] += 1
            note.append(f"{expected} read as {kind}")
        if expected in ("bounce", "complaint") and kind is None:
            counts["unclassified"] += 1
        if kind in FAILURE_KINDS:
            invented = sorted(set(by_address) - wanted)
            counts["invented_recipients"] += len(invented)
            if invented:
                note.append(f"invented {invented}")
        for recipient in row["recipients"]:
            address = recipient["address"]
            counts["recipients"] += 1
            ours = by_address.get(address) if kind in FAILURE_KINDS else None
            if address:
                counts["addresses"] += 1
                counts["addresses_found"] += ours is not None
                if ours is None:
                    note.append(f"missed {address}")
            reason, effect = ours or (None, None)
            theirs = SISIMAI_REASONS.get(recipient["reason"], recipient["reason"])
            counts["reasons_agree"] += reason == theirs
            dead = effect == ADDRESS_DEAD
            counts["dead_agree"] += dead == bool(recipient["hard"])
            if dead and recipient["reason"] in NOT_DEAD:
                counts["wrongly_undeliverable"] += 1
            if dead != bool(recipient["hard"]):
                note.append(f"dead={dead} for {recipient['reason']} ({reason})")
            elif verbose and reason != theirs:
                note.append(f"reason {reason} for {recipient['reason']}")
        if use_flufl:
            flufl = flufl_verdict(raw)
            if flufl is not None:
                counts["flufl"] += 1
                detected, addresses = flufl
                if expected == "bounce":
                    counts["flufl_detected"] += detected
                counts["flufl_found"] += len(wanted & addresses)
                counts["flufl_invented"] += len(addresses - wanted)
        if note:
            misses[row["family"]].append(f"{name}: {'; '.join(note)}")
    for family in sorted(misses):
        print(f"{family}:")
        for line in misses[family]:
            print(f"  {line[:300]}")
    result = {
        "files": len(rows),
        "bounces_detected": ratio(counts["bounces_detected"], counts["bounces"]),
        "complaints_detected": ratio(
            counts["complaints_detected"], counts["complaints"]
        ),
        "recipients_right": ratio(counts["addresses_found"], counts["addresses"]),
        "reasons_agree": ratio(counts["reasons_agree"], counts["recipients"]),
        "dead_address_agreement": ratio(counts["dead_agree"], counts["recipients"]),
        "wrongly_undeliverable": counts["wrongly_undeliverable"],
        "invented_recipients": counts["invented_recipients"],
        "false_failures": counts["false_failures"],
        "unclassified": counts["unclassified"],
        "verdicts_sha256": digest.hexdigest()[:16],
    }
    if counts["flufl"]:
        result.update(
            flufl_bounces_detected=ratio(counts["flufl_detected"], counts["bounces"]),
            flufl_recipients_right=ratio(counts["flufl_found"], counts["addresses"]),
            flufl_invented_recipients=counts["flufl_invented"],
        )
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--no-flufl", action="store_true", help="skip flufl.bounce")
    parser.add_argument(
        "--verbose", action="store_true", help="also list reasons that differ"
    )
    args = parser.parse_args()
    print(json.dumps(run(args.folder, not args.no_flufl, args.verbose)))


if __name__ == "__main__":
    main()
