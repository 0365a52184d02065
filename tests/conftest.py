"""Fixtures: a real database (a SQLite file, or PostgreSQL), the app, and factories.

Set KARN_TEST_DB=postgresql and KARN_TEST_POSTGRES_URL to a server URL to run
everything on PostgreSQL; a fresh database is created for the run and dropped
after it.
"""

import contextvars
import os
import re
import secrets
import shutil
from urllib.parse import urlsplit, urlunsplit

import pytest
import sqlalchemy as sa
from flask.testing import FlaskClient

from karn.app import create_app
from karn.extensions import db as _db

BACKEND = os.environ.get("KARN_TEST_DB", "sqlite")
REQUIRE_BROWSER = os.environ.get("KARN_REQUIRE_BROWSER") == "1"
PASSWORD = "correct-horse-battery"


def postgres_server_url() -> str | None:
    """The PostgreSQL server to create test databases on, if one is configured."""
    return os.environ.get("KARN_TEST_POSTGRES_URL")


def with_database(url: str, name: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def create_pg_database(server_url: str, prefix: str = "karn_test") -> str:
    """Create an empty database on the server and return its URL."""
    name = f"{prefix}_{os.getpid()}_{secrets.token_hex(4)}"
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return with_database(server_url, name)


def drop_pg_database(server_url: str, url: str) -> None:
    name = urlsplit(url).path.lstrip("/")
    engine = sa.create_engine(server_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    engine.dispose()


def settings(database_url: str, **extra) -> dict:
    return {
        "ENV": "testing",
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "RATELIMIT_STORAGE_URI": "memory://",
        "MAIL_SERVER": None,
        "BASE_URL": "http://localhost",
        **extra,
    }


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    """A database migrated to head, for the whole run."""
    if BACKEND == "postgresql":
        server = postgres_server_url()
        if not server:
            pytest.fail("KARN_TEST_DB=postgresql needs KARN_TEST_POSTGRES_URL")
        url = create_pg_database(server)
    elif BACKEND == "sqlite":
        url = "sqlite:///" + str(tmp_path_factory.mktemp("db") / "karn.db")
    else:
        pytest.fail(f"KARN_TEST_DB must be sqlite or postgresql, not {BACKEND}")
    app = create_app(settings(url))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        _db.engine.dispose()
    yield url
    if BACKEND == "postgresql":
        drop_pg_database(postgres_server_url(), url)


def _empty_tables() -> None:
    tables = _db.metadata.sorted_tables
    with _db.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            names = ", ".join(f'"{t.name}"' for t in tables)
            conn.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
        else:
            for table in reversed(tables):
                conn.execute(table.delete())


class IsolatedClient(FlaskClient):
    """A test client whose requests run in their own app context, as in production.

    The test itself holds an app context for its factories and assertions; without
    this, requests would share its `g` and database session. A streamed body is
    read to the end in the request's own context too, as a server reads it:
    after the view has returned and its request context is gone.
    """

    def open(self, *args, **kwargs):
        kwargs.setdefault("buffered", True)
        return contextvars.Context().run(super().open, *args, **kwargs)


@pytest.fixture
def app_settings():
    """Extra settings for the app of one test; override in a test module."""
    return {}


@pytest.fixture
def app(database_url, app_settings):
    """The Karn app on the run's database, emptied after each test."""
    app = create_app(settings(database_url, **app_settings))
    app.test_client_class = IsolatedClient
    with app.app_context():
        yield app
        _db.session.remove()
        _empty_tables()
        _db.engine.dispose()


@pytest.fixture
def db(app):
    return _db


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


CSRF_RE = re.compile(
    r'name="csrf_token" type="hidden" value="([^"]+)"|'
    r'name="csrf_token" value="([^"]+)"'
)


def csrf_token(client, url: str) -> str:
    """Fetch a page and return the CSRF token of its form."""
    page = client.get(url)
    match = CSRF_RE.search(page.get_data(as_text=True))
    assert match, f"no CSRF token on {url} ({page.status_code})"
    return match.group(1) or match.group(2)


@pytest.fixture
def post_form(client):
    """POST a form the way a browser does: with the CSRF token of the page."""

    def post(url, data, page=None, **kwargs):
        token = csrf_token(client, page or url)
        return client.post(url, data={**data, "csrf_token": token}, **kwargs)

    return post


@pytest.fixture
def create_user(db):
    """Make users: create_user(role="staff", email=None, **fields)."""
    from karn.accounts import operations

    counter = iter(range(1, 10_000))

    def make(role="staff", email=None, password=PASSWORD, **fields):
        email = email or f"{role}{next(counter)}@example.com"
        user, _ = operations.create_user(
            email,
            fields.pop("name", email.split("@")[0]),
            role,
            fields.pop("language", "en"),
            password,
        )
        for key, value in fields.items():
            setattr(user, key, value)
        db.session.commit()
        return user

    return make


@pytest.fixture
def login(client):
    """Sign in through the real login form: login(user) or login(email, password)."""

    def do_login(user_or_email, password=PASSWORD):
        email = getattr(user_or_email, "email", user_or_email)
        token = csrf_token(client, "/login")
        response = client.post(
            "/login", data={"email": email, "password": password, "csrf_token": token}
        )
        assert response.status_code == 302, "login failed"
        return response

    return do_login


@pytest.fixture
def create_customer(db):
    """Make departed customers: create_customer(**fields)."""
    from datetime import timedelta

    from karn import clock
    from karn.customers.models import Customer

    counter = iter(range(1, 1_000_000))

    def make(**fields):
        n = next(counter)
        values = {
            "external_id": f"C{n:05d}",
            "email": f"customer{n}@example.com",
            "name": f"Customer {n}",
            "departed_at": clock.now() - timedelta(days=3),
            "source": "manual",
            "language": "nl",
        }
        values.update(fields)
        customer = Customer(**values)
        db.session.add(customer)
        db.session.commit()
        return customer

    return make


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def pytest_collection_modifyitems(config, items):
    if not chromium_path() and not REQUIRE_BROWSER:
        skip = pytest.mark.skip(
            reason="Chromium is not installed (apt-get install chromium)"
        )
        for item in items:
            if "browser" in item.keywords:
                item.add_marker(skip)


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class SmtpRecorder:
    """An aiosmtpd handler that keeps what it receives and can refuse addresses."""

    def __init__(self):
        self.messages = []  # (envelope sender, recipients, parsed message)
        self.refuse = {}  # address -> SMTP reply, e.g. "550 5.1.1 No such user"
        self.refuse_sender = None  # a reply to MAIL FROM, e.g. "550 5.7.1 …"
        self.delay = 0.0  # seconds before accepting a message's data

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        if self.refuse_sender:
            return self.refuse_sender
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return self.refuse[address]
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        from email import message_from_bytes, policy

        if self.delay:
            import asyncio

            await asyncio.sleep(self.delay)
        parsed = message_from_bytes(envelope.original_content, policy=policy.default)
        self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), parsed))
        return "250 Message accepted for delivery"


@pytest.fixture
def smtp_server():
    """A real SMTP server on localhost; `.handler.messages` is what it received."""
    from aiosmtpd.controller import Controller

    handler = SmtpRecorder()
    controller = Controller(handler, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield controller
    controller.stop()


@pytest.fixture
def mail_settings(smtp_server):
    return {
        "MAIL_SERVER": "127.0.0.1",
        "MAIL_PORT": smtp_server.port,
        "MAIL_DEFAULT_SENDER": "Karn <survey@karn.example>",
    }


CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium, headless, driven by Playwright."""
    path = chromium_path()
    if not path:
        pytest.fail("Chromium is required (KARN_REQUIRE_BROWSER=1) but not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(
            executable_path=path, headless=True, args=CHROMIUM_FLAGS
        )
        yield browser
        browser.close()


def resize(page, width: int, height: int = 900) -> None:
    """Give the page a new viewport and wait until it is laid out at that
    width: some Chromium builds apply the size, and the media queries with
    it, a frame after the call returns."""
    page.set_viewport_size({"width": width, "height": height})
    page.wait_for_function(
        """w => window.innerWidth === w && new Promise(
            done => requestAnimationFrame(() => requestAnimationFrame(
                () => done(true))))""",
        arg=width,
    )


@pytest.fixture
def page(browser):
    context = browser.new_context(locale="en-GB")
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def live_server(app, database_url, tmp_path, app_settings):
    """Karn under gunicorn on a free port, on the test database, with the test's
    app_settings that are read from KARN_* variables."""
    import subprocess
    import sys
    import time
    import urllib.request

    from karn.config import ENV_SETTINGS

    port = free_port()
    env = {
        **os.environ,
        "KARN_ENV": "testing",
        "KARN_SECRET_KEY": app.config["SECRET_KEY"],
        "KARN_DATABASE_URL": database_url,
        "KARN_BASE_URL": f"http://127.0.0.1:{port}",
        "KARN_INSTANCE_PATH": str(tmp_path / "instance"),
        "PYTHONPATH": os.path.dirname(os.path.dirname(__file__)),
    }
    for key, value in app.config.items():
        if (
            key.startswith("MAIL_")
            and value is not None
            and key != "MAIL_SUPPRESS_SEND"
        ):
            env[f"KARN_{key}"] = str(value)
    for key, value in app_settings.items():
        if key in ENV_SETTINGS and value is not None:
            env[f"KARN_{key}"] = str(value)
    gunicorn = os.path.join(os.path.dirname(sys.executable), "gunicorn")
    proc = subprocess.Popen(
        [
            gunicorn,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "2",
            "--log-level",
            "warning",
            "karn.app:create_app()",
        ],
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(base + "/healthz", timeout=1) as r:
                if r.status == 200:
                    break
        except OSError:
            if proc.poll() is not None or time.monotonic() > deadline:
                proc.kill()
                pytest.fail("gunicorn did not start")
            time.sleep(0.1)
    yield base
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:  # a loaded machine: do not leave it running
        proc.kill()
        proc.wait()
