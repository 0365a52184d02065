"""What a browser gets from Karn under gunicorn: streamed CSV downloads arrive
whole, HTTPS is kept to, and a sign-in is remembered only as long as configured."""

import csv
import http.cookiejar
import io
import re
import urllib.error
import urllib.parse
import urllib.request
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

import pytest
import sqlalchemy as sa

from karn import clock
from karn.accounts.models import AuditEntry
from karn.analysis.exports import CHUNK
from karn.config import from_environment
from karn.customers.models import Customer
from karn.enums import Language, Reason, Source
from karn.surveys.editing import ensure_default_survey
from karn.surveys.models import Answer, Response, ResponseReason
from tests.conftest import CSRF_RE, PASSWORD

# More than two of the batches the exports read at a time.
ROWS = 2 * CHUNK + 500


class Browser:
    """Cookies, a sign-in through the login form, and whole downloads over HTTP."""

    def __init__(self, base: str):
        self.base = base
        self.opener = urllib.request.build_opener(
            urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        )

    def get(self, path: str, headers: dict | None = None):
        request = urllib.request.Request(self.base + path, headers=headers or {})
        return self.opener.open(request, timeout=60)

    def sign_in(self, email: str) -> None:
        with self.get("/login") as response:
            page = response.read().decode()
        match = CSRF_RE.search(page)
        form = urllib.parse.urlencode(
            {
                "email": email,
                "password": PASSWORD,
                "csrf_token": match.group(1) or match.group(2),
            }
        ).encode()
        with self.opener.open(self.base + "/login", data=form, timeout=30) as r:
            assert "/login" not in r.url, "sign-in failed"

    def csv(self, path: str) -> list[dict]:
        """The whole CSV download; fails if the stream breaks off."""
        with self.get(path) as response:
            assert response.status == 200
            assert response.headers["Content-Type"].startswith("text/csv")
            body = response.read().decode("utf-8")
        assert body.startswith("\ufeff")
        return list(csv.DictReader(io.StringIO(body[1:])))


def _many_responses(db, runner, count: int) -> None:
    """count submitted responses, each with a comment, written in bulk."""
    survey, _ = ensure_default_survey()
    version_id = survey.versions[-1].id
    now = clock.now()
    reasons = list(Reason)
    db.session.execute(
        sa.insert(Customer),
        [
            {
                "external_id": f"S{n:05d}",
                "email": f"s{n}@example.nl",
                "departed_at": now - timedelta(days=3),
                "source": Source.CSV,
                "language": Language.NL,
                "segment": "-Zakelijk" if n % 2 else "Particulier",
            }
            for n in range(count)
        ],
    )
    ids = db.session.scalars(sa.select(Customer.id).order_by(Customer.id)).all()
    db.session.execute(
        sa.insert(Response),
        [
            {
                "customer_id": customer_id,
                "survey_version_id": version_id,
                "language": Language.NL,
                "channel": "invitation",
                "primary_reason": reasons[n % len(reasons)],
                "started_at": now - timedelta(days=1),
                "submitted_at": now - timedelta(days=1),
            }
            for n, customer_id in enumerate(ids)
        ],
    )
    response_ids = db.session.scalars(sa.select(Response.id)).all()
    db.session.execute(
        sa.insert(Answer),
        [
            {"response_id": rid, "question_key": "keep_you", "value": f"comment {rid}"}
            for rid in response_ids
        ],
    )
    chosen = dict(
        db.session.execute(sa.select(Response.id, Response.primary_reason)).all()
    )
    db.session.execute(
        sa.insert(ResponseReason),
        [
            {
                "response_id": rid,
                "reason": reason,
                "position": position,
                "is_primary": reason == chosen[rid],
            }
            for rid in response_ids
            for position, reason in enumerate(reasons)
        ],
    )
    db.session.commit()
    # As after responses were loaded past Karn: the dashboard's totals afresh.
    assert runner.invoke(args=["analysis", "rebuild-totals"]).exit_code == 0


def test_analysis_csv_exports_arrive_whole_from_gunicorn(
    live_server, db, runner, create_user
):
    _many_responses(db, runner, ROWS)
    manager = create_user("manager", language="en")
    browser = Browser(live_server)
    browser.sign_in(manager.email)

    rows = browser.csv("/analysis/export/responses.csv")
    assert len(rows) == ROWS
    ids = [int(r["response_id"]) for r in rows]
    assert ids == sorted(db.session.scalars(sa.select(Response.id)).all())
    assert all(r["keep_you"] == f"comment {r['response_id']}" for r in rows)
    # A segment that starts with a minus is text, guarded like a formula.
    assert {r["segment"] for r in rows} == {"'-Zakelijk", "Particulier"}

    narrowed = browser.csv("/analysis/export/responses.csv?segment=Particulier")
    assert len(narrowed) == ROWS // 2

    ranking = browser.csv("/analysis/export/ranking.csv")
    assert {r["reason"]: int(r["count"]) for r in ranking} == {
        r.value: ROWS // len(Reason) + (n < ROWS % len(Reason))
        for n, r in enumerate(Reason)
    }


def test_audit_csv_arrives_whole_from_gunicorn(live_server, db, create_user):
    admin = create_user("admin", language="en")
    now = clock.now()
    db.session.execute(
        sa.insert(AuditEntry),
        [
            {"action": "customer.update", "at": now, "details": {"n": n}}
            for n in range(ROWS)
        ],
    )
    db.session.commit()
    browser = Browser(live_server)
    browser.sign_in(admin.email)

    rows = browser.csv("/privacy/audit.csv?action=customer.")
    assert len(rows) == ROWS
    assert sorted(int(r["details"][6:-1]) for r in rows) == list(range(ROWS))


@pytest.fixture
def app_settings(request):
    """One proxy in front of Karn, or the settings a test gives as its param."""
    return getattr(request, "param", {"PROXY_COUNT": 1})


def test_https_responses_tell_the_browser_to_keep_to_https(live_server):
    """Behind a proxy that terminates HTTPS, as PROXY_COUNT says; never over HTTP."""
    browser = Browser(live_server)

    def hsts(path: str, headers: dict) -> str | None:
        try:
            response = browser.get(path, headers)
        except urllib.error.HTTPError as error:
            response = error  # a 404 page is a response all the same
        with response:
            response.read()
            return response.headers["Strict-Transport-Security"]

    for path in ("/login", "/static/karn.css", "/nowhere"):
        assert hsts(path, {"X-Forwarded-Proto": "https"}) == "max-age=31536000"
        assert hsts(path, {}) is None


@pytest.mark.parametrize(
    "app_settings, days",
    [({}, 30), ({"REMEMBER_COOKIE_DAYS": 7}, 7)],
    indirect=["app_settings"],
)
def test_remember_me_lasts_the_configured_days(client, create_user, days):
    user = create_user("staff")
    page = client.get("/login").get_data(as_text=True)
    match = CSRF_RE.search(page)
    response = client.post(
        "/login",
        data={
            "email": user.email,
            "password": PASSWORD,
            "remember": "y",
            "csrf_token": match.group(1) or match.group(2),
        },
    )
    assert response.status_code == 302
    cookie = next(
        c for c in response.headers.getlist("Set-Cookie") if c.startswith("remember")
    )
    expires = parsedate_to_datetime(re.search(r"Expires=([^;]+)", cookie).group(1))
    lasts = expires - datetime.now(UTC)
    assert abs(timedelta(days=days) - lasts) < timedelta(minutes=1)


def test_remember_cookie_days_are_read_from_the_environment():
    assert from_environment({"KARN_REMEMBER_COOKIE_DAYS": "7"}) == {
        "REMEMBER_COOKIE_DAYS": 7
    }
    for wrong in ("0", "400", "a week"):
        with pytest.raises(RuntimeError, match="KARN_REMEMBER_COOKIE_DAYS"):
            from_environment({"KARN_REMEMBER_COOKIE_DAYS": wrong})
