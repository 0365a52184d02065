"""Karn's settings: defaults, then instance/config.py, then KARN_* variables."""

import os
import socket

# Where `make run` (karn.serve) listens unless KARN_BIND says otherwise.
DEFAULT_BIND = "127.0.0.1:5000"

# Settings that come from the environment as KARN_<NAME>, with how to read them.
# Anything listed here can also be set in instance/config.py under the same
# name without the prefix.
_BOOL = {"1", "true", "yes", "on"}


def _as_bool(value: str) -> bool:
    return value.strip().lower() in _BOOL


def _one_of(*choices: str):
    """A parser accepting only the given words (in any case)."""

    def parse(value: str) -> str:
        word = value.strip().lower()
        if word not in choices:
            raise ValueError(f"must be one of {', '.join(choices)}")
        return word

    return parse


def _days_up_to(most: int):
    """A parser accepting a whole number of days from 1 to ``most``."""

    def parse(value: str) -> int:
        days = int(value)
        if not 1 <= days <= most:
            raise ValueError(f"must be 1 to {most} days")
        return days

    return parse


def _share(value: str) -> float:
    """A share strictly between 0 and 1, such as 0.8."""
    share = float(value)
    if not 0.0 < share < 1.0:
        raise ValueError("must lie between 0 and 1")
    return share


def _currency(value: str) -> str:
    """An ISO 4217 code such as EUR (any case), upper-cased."""
    code = value.strip().upper()
    if len(code) != 3 or not code.isascii() or not code.isalpha():
        raise ValueError("must be a three-letter ISO 4217 code such as EUR")
    return code


class Defaults:
    """Defaults for every setting; each is documented in the README."""

    # "production" refuses to start without a secret key; "development" and
    # "testing" fall back to a throwaway one.
    ENV = "production"
    SECRET_KEY = None
    # None means: a SQLite file in the instance folder.
    DATABASE_URL = None
    # None means: http:// and the address `make run` listens on (KARN_BIND).
    BASE_URL = None
    COMPANY_NAME = "Karn"
    DEFAULT_LANGUAGE = "nl"
    TIMEZONE = "Europe/Amsterdam"

    MAIL_SERVER = None
    MAIL_PORT = 25
    MAIL_USE_TLS = False
    MAIL_USE_SSL = False
    MAIL_USERNAME = None
    MAIL_PASSWORD = None
    MAIL_DEFAULT_SENDER = "Karn <karn@localhost>"
    # Envelope sender (Return-Path) for bounces; the From address when empty.
    MAIL_ENVELOPE_FROM = None
    # Messages per minute the worker may send; 0 for no limit.
    MAIL_RATE_PER_MINUTE = 0
    MAIL_BATCH_SIZE = 100
    # Seconds the worker waits for the SMTP server's answer to one command.
    MAIL_TIMEOUT = 20
    # Seconds a worker's claim on mail lasts unless it renews it (it does, six
    # times per lease, while it sends); then another worker may take it over.
    MAIL_CLAIM_LEASE_SECONDS = 180
    # Temporary failures are retried this many times, waiting longer each time.
    MAIL_MAX_ATTEMPTS = 8
    # Permanent refusals (5xx) after which an address counts as undeliverable.
    MAIL_FAILURES_BEFORE_UNDELIVERABLE = 1
    # Soft bounces (with other delivery failures) before an address counts as
    # undeliverable; a hard bounce does so at once.
    BOUNCE_SOFT_LIMIT = 3
    # The mailbox bounces arrive in; unset: it is not read.
    BOUNCE_IMAP_HOST = None
    BOUNCE_IMAP_PORT = 993
    BOUNCE_IMAP_USER = None
    BOUNCE_IMAP_PASSWORD = None
    BOUNCE_IMAP_FOLDER = "INBOX"
    BOUNCE_IMAP_SSL = True
    BOUNCE_IMAP_DELETE = False
    # Seconds between the worker's polls of the bounce mailbox.
    BOUNCE_IMAP_INTERVAL = 300
    # Seconds between the worker's passes when there is nothing to do.
    WORKER_INTERVAL = 5
    # The accurate text tier (a sentence encoder the worker re-tags stored
    # texts with): "auto" uses it when installed, "off" keeps the fast tags.
    TEXT_ENCODER = "auto"
    # CPU threads the encoder may use in the worker.
    TEXT_ENCODER_THREADS = 1

    # The invitation schedule: hours after departure before inviting, and the
    # age of a departure after which nobody is invited any more.
    INVITATION_DELAY_HOURS = 48
    INVITATION_CUTOFF_DAYS = 90
    # Reminders, in days after the invitation was sent (at most two).
    REMINDER_DAYS = "5,12"
    # A survey link works this many days after the invitation, unless answered.
    LINK_VALID_DAYS = 60
    # No mail between these hours in the company's time zone (TIMEZONE).
    QUIET_HOURS_START = 21
    QUIET_HOURS_END = 8
    # Customers paying at least this much a month who stayed silent after the
    # last reminder go on the call list (0 turns this off) ...
    CALL_HIGH_VALUE_REVENUE = 100.0
    # ... this many days after that reminder.
    CALL_AFTER_SILENT_DAYS = 7
    # Calling hours (HH:MM in TIMEZONE) and days (ISO weekdays, 1 = Monday): a
    # task Karn adds by itself is due at the next moment staff call.
    CALL_HOURS_START = "09:00"
    CALL_HOURS_END = "17:00"
    CALL_DAYS = "1,2,3,4,5"
    # The team digest mailed to managers and staff: "monthly" (the calendar
    # month before), "weekly" (the ISO week before) or "off".
    DIGEST_FREQUENCY = "monthly"
    # An improvement action's effect compares its reason's share in this many
    # days before the start with as many days from the start on.
    ACTION_WINDOW_DAYS = 90
    # Keep calls: the share of the chosen at-risk customers who are called (the
    # rest are held back as the control group), and the days over which
    # departures are counted from each customer's draw.
    KEEP_CALL_SHARE = 0.8
    KEEP_CALL_HORIZON_DAYS = 90
    # Follow-ups and "we fixed it" campaigns: nobody gets one within this many
    # days of the last; the share mailed (the rest held back as the control
    # group); win-backs counted over this many days from each assignment.
    CONTACT_MIN_DAYS = 30
    FOLLOW_UP_SHARE = 0.8
    WIN_BACK_HORIZON_DAYS = 90
    # At risk: the worker retrains every this many days and scores every this
    # many hours; columns named here are used although they look as if they
    # tell who has already left (comma-separated, as in the imported file).
    RISK_RETRAIN_DAYS = 7
    RISK_RESCORE_HOURS = 24
    RISK_KEEP_COLUMNS = ""

    # Outbound webhooks: seconds per connect or read, tries per delivery,
    # deliveries in a row failed for good before an endpoint is switched off,
    # and how often a process reads the endpoints again.
    WEBHOOK_TIMEOUT = 10
    WEBHOOK_MAX_ATTEMPTS = 8
    WEBHOOK_DISABLE_AFTER = 5
    WEBHOOK_CHECK_SECONDS = 5

    # CSV uploads larger than this are refused (bytes).
    IMPORT_MAX_BYTES = 64 * 1024 * 1024
    STRIPE_WEBHOOK_SECRET = None
    # A restricted, read-only Stripe key (Customers, Products and Subscriptions
    # read): the worker looks up what Stripe's events leave out. None: it does not.
    STRIPE_API_KEY = None
    # Where Stripe's API answers; another address only for a test server or proxy.
    STRIPE_API_BASE = "https://api.stripe.com"
    # Departures because paying failed (a declined card, a dispute) are invited too.
    INVITE_INVOLUNTARY = False
    # The reporting currency (ISO 4217): amounts in others are shown, not summed.
    CURRENCY = "EUR"
    # Personal data of departed customers is erased this many months after departure.
    RETENTION_PERSONAL_MONTHS = 24
    # Subject and text of sent mail are removed this many days after sending.
    RETENTION_MAIL_DAYS = 90
    # Shared with the company's server to sign customer references on the
    # survey's public link (see the README); references are ignored without it.
    PUBLIC_LINK_SECRET = None
    PUBLIC_LINK_RATE_LIMIT = "20 per hour"

    RATELIMIT_STORAGE_URI = "memory://"
    LOGIN_RATE_LIMIT = "10 per minute"
    # "Remember me" keeps a user signed in on that browser this many days.
    REMEMBER_COOKIE_DAYS = 30
    # Trust X-Forwarded-* from this many proxies in front of Karn.
    PROXY_COUNT = 0
    MAX_CONTENT_LENGTH = 16 * 1024 * 1024


# name -> parser for values read from KARN_<name>
ENV_SETTINGS = {
    "ENV": str,
    "SECRET_KEY": str,
    "DATABASE_URL": str,
    "BASE_URL": str,
    "COMPANY_NAME": str,
    "DEFAULT_LANGUAGE": str,
    "TIMEZONE": str,
    "MAIL_SERVER": str,
    "MAIL_PORT": int,
    "MAIL_USE_TLS": _as_bool,
    "MAIL_USE_SSL": _as_bool,
    "MAIL_USERNAME": str,
    "MAIL_PASSWORD": str,
    "MAIL_DEFAULT_SENDER": str,
    "MAIL_ENVELOPE_FROM": str,
    "MAIL_RATE_PER_MINUTE": int,
    "MAIL_BATCH_SIZE": int,
    "MAIL_TIMEOUT": float,
    "MAIL_CLAIM_LEASE_SECONDS": float,
    "MAIL_MAX_ATTEMPTS": int,
    "MAIL_FAILURES_BEFORE_UNDELIVERABLE": int,
    "BOUNCE_SOFT_LIMIT": int,
    "BOUNCE_IMAP_HOST": str,
    "BOUNCE_IMAP_PORT": int,
    "BOUNCE_IMAP_USER": str,
    "BOUNCE_IMAP_PASSWORD": str,
    "BOUNCE_IMAP_FOLDER": str,
    "BOUNCE_IMAP_SSL": _as_bool,
    "BOUNCE_IMAP_DELETE": _as_bool,
    "BOUNCE_IMAP_INTERVAL": float,
    "WORKER_INTERVAL": float,
    "TEXT_ENCODER": _one_of("auto", "off"),
    "TEXT_ENCODER_THREADS": int,
    "INVITATION_DELAY_HOURS": float,
    "INVITATION_CUTOFF_DAYS": int,
    "REMINDER_DAYS": str,
    "LINK_VALID_DAYS": int,
    "QUIET_HOURS_START": int,
    "QUIET_HOURS_END": int,
    "CALL_HIGH_VALUE_REVENUE": float,
    "CALL_AFTER_SILENT_DAYS": int,
    "CALL_HOURS_START": str,
    "CALL_HOURS_END": str,
    "CALL_DAYS": str,
    "DIGEST_FREQUENCY": _one_of("monthly", "weekly", "off"),
    "ACTION_WINDOW_DAYS": _days_up_to(3650),
    "KEEP_CALL_SHARE": _share,
    "KEEP_CALL_HORIZON_DAYS": _days_up_to(3650),
    "CONTACT_MIN_DAYS": _days_up_to(3650),
    "FOLLOW_UP_SHARE": _share,
    "WIN_BACK_HORIZON_DAYS": _days_up_to(3650),
    "RISK_RETRAIN_DAYS": _days_up_to(3650),
    "RISK_RESCORE_HOURS": float,
    "RISK_KEEP_COLUMNS": str,
    "WEBHOOK_TIMEOUT": float,
    "WEBHOOK_MAX_ATTEMPTS": int,
    "WEBHOOK_DISABLE_AFTER": int,
    "WEBHOOK_CHECK_SECONDS": float,
    "IMPORT_MAX_BYTES": int,
    "STRIPE_WEBHOOK_SECRET": str,
    "STRIPE_API_KEY": str,
    "STRIPE_API_BASE": str,
    "INVITE_INVOLUNTARY": _as_bool,
    "CURRENCY": _currency,
    "RETENTION_PERSONAL_MONTHS": int,
    "RETENTION_MAIL_DAYS": int,
    "PUBLIC_LINK_SECRET": str,
    "PUBLIC_LINK_RATE_LIMIT": str,
    "RATELIMIT_STORAGE_URI": str,
    "LOGIN_RATE_LIMIT": str,
    "REMEMBER_COOKIE_DAYS": _days_up_to(365),
    "PROXY_COUNT": int,
    "MAX_CONTENT_LENGTH": int,
}


def base_url_from_bind(bind: str | None) -> str:
    """The address `make run` listens on (KARN_BIND, as gunicorn reads it) as
    Karn's address for links in mail; this machine's name when it listens on
    every address, the default address for a Unix socket."""
    bind = (bind or "").strip() or DEFAULT_BIND
    if bind.startswith(("unix:", "fd://")):
        bind = DEFAULT_BIND
    if bind.startswith("["):  # [::1]:8000
        host, _, port = bind[1:].partition("]")
        port = port.lstrip(":")
    elif bind.count(":") == 1:
        host, port = bind.split(":")
    else:
        host, port = bind, ""
    if host in ("", "0.0.0.0", "::"):
        host = socket.getfqdn()
    elif ":" in host:
        host = f"[{host}]"
    # gunicorn's own default port when the address names none
    return f"http://{host}:{port or 8000}"


def from_environment(environ=None) -> dict:
    """Return the settings given as KARN_* environment variables, parsed."""
    environ = os.environ if environ is None else environ
    found = {}
    for name, parse in ENV_SETTINGS.items():
        raw = environ.get(f"KARN_{name}")
        if raw is not None and raw != "":
            try:
                found[name] = parse(raw)
            except ValueError as exc:
                raise RuntimeError(f"KARN_{name}={raw!r} is not valid: {exc}") from exc
    return found
