"""The command line: users, the first admin, API keys, and starting Karn."""

import os
import signal
import subprocess
import sys
import threading
import time
import urllib.request

import sqlalchemy as sa

from karn.accounts.models import ApiKey, User
from karn.accounts.operations import find_api_key
from tests.conftest import free_port


def test_users_create_with_generated_password(runner, db):
    result = runner.invoke(
        args=["users", "create", "--email", "Jan@Example.com", "--role", "manager"]
    )
    assert result.exit_code == 0, result.output
    assert "Password: " in result.output
    user = db.session.scalar(sa.select(User).where(User.email == "jan@example.com"))
    assert user.role.value == "manager"


def test_users_create_refuses_a_short_password(runner, db):
    result = runner.invoke(
        args=[
            "users",
            "create",
            "--email",
            "a@b.nl",
            "--role",
            "staff",
            "--password",
            "kort",
        ]
    )
    assert result.exit_code != 0
    # Commands speak the company's default language (Dutch here).
    assert "minstens 10 tekens" in result.output
    assert db.session.scalar(sa.select(sa.func.count(User.id))) == 0


def test_ensure_admin_creates_one_login_only_the_first_time(runner, client):
    first = runner.invoke(args=["users", "ensure-admin"])
    assert first.exit_code == 0
    assert "admin@localhost" in first.output
    password = first.output.split("password:")[1].split()[0]
    second = runner.invoke(args=["users", "ensure-admin"])
    assert "no administrator created" in second.output
    assert password not in second.output
    # The printed credentials work on the login page.
    from tests.conftest import csrf_token

    token = csrf_token(client, "/login")
    response = client.post(
        "/login",
        data={"email": "admin@localhost", "password": password, "csrf_token": token},
    )
    assert response.status_code == 302


def test_apikeys_create_list_revoke(runner, db):
    result = runner.invoke(args=["apikeys", "create", "billing"])
    assert result.exit_code == 0
    secret = result.output.strip().splitlines()[-1]
    assert find_api_key(secret) is not None
    key = db.session.scalars(sa.select(ApiKey)).one()
    listing = runner.invoke(args=["apikeys", "list"]).output
    assert "billing" in listing and secret not in listing
    assert runner.invoke(args=["apikeys", "revoke", str(key.id)]).exit_code == 0
    db.session.expire_all()
    assert find_api_key(secret) is None
    assert runner.invoke(args=["apikeys", "revoke", "999"]).exit_code != 0


def test_serve_starts_web_and_worker_and_ctrl_c_stops_both(tmp_path):
    # A database of its own, as `make run` has: the test is about the processes,
    # and must not wait on locks other tests' connections hold on the shared one.
    from flask_migrate import upgrade

    from karn.app import create_app
    from karn.extensions import db
    from tests.conftest import settings

    database_url = f"sqlite:///{tmp_path}/serve.db"
    app = create_app(settings(database_url))
    with app.app_context():
        upgrade()
        db.engine.dispose()
    port = free_port()
    env = {
        **os.environ,
        "KARN_BIND": f"127.0.0.1:{port}",
        "KARN_WEB_WORKERS": "1",
        "KARN_ENV": "production",
        "KARN_SECRET_KEY": "serve-test-secret",
        "KARN_DATABASE_URL": database_url,
        "KARN_INSTANCE_PATH": str(tmp_path),
        "FLASK_APP": "karn.app",
        "PYTHONPATH": os.path.dirname(os.path.dirname(__file__)),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "karn.serve"],
        env=env,
        start_new_session=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    lines: list[str] = []
    reader = threading.Thread(
        target=lambda: lines.extend(line.decode() for line in proc.stdout), daemon=True
    )
    reader.start()
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/login") as r:
                    assert r.status == 200
                if any("worker" in line and "started" in line for line in lines):
                    break
            except OSError:
                pass
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "Karn did not start in 120 s"
            time.sleep(0.2)
        # Ctrl-C in a terminal signals the whole process group.
        os.killpg(proc.pid, signal.SIGINT)
        proc.wait(30)
        reader.join(10)
        output = "".join(lines)
        assert "Karn is running at" in output
        assert any("worker" in line and "stopped" in line for line in lines), output
        time.sleep(0.5)
        try:
            os.killpg(proc.pid, 0)
            alive = True
        except ProcessLookupError:
            alive = False
        assert not alive, "a process of Karn is still running"
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        proc.stdout.close()
