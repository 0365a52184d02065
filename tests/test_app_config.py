"""Settings: defaults, instance file, environment, and the production secret rule."""

import pytest
import sqlalchemy as sa

from karn.app import create_app
from karn.config import from_environment
from karn.extensions import db


def test_refuses_to_start_in_production_without_secret_key(monkeypatch, tmp_path):
    monkeypatch.delenv("KARN_SECRET_KEY", raising=False)
    with pytest.raises(RuntimeError, match="KARN_SECRET_KEY"):
        create_app({"ENV": "production", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})


def test_starts_in_production_with_secret_key_from_environment(monkeypatch, tmp_path):
    monkeypatch.setenv("KARN_SECRET_KEY", "s" * 64)
    monkeypatch.setenv("KARN_ENV", "production")
    monkeypatch.setenv("KARN_DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    app = create_app()
    assert app.config["SECRET_KEY"] == "s" * 64
    assert not app.testing


def test_development_gets_a_throwaway_key(tmp_path):
    app = create_app(
        {"ENV": "development", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"}
    )
    assert len(app.config["SECRET_KEY"]) >= 32


def test_environment_overrides_and_parses_types():
    found = from_environment(
        {
            "KARN_MAIL_PORT": "2525",
            "KARN_MAIL_USE_TLS": "yes",
            "KARN_BASE_URL": "https://x",
        }
    )
    assert found == {"MAIL_PORT": 2525, "MAIL_USE_TLS": True, "BASE_URL": "https://x"}


def test_bad_environment_value_names_the_variable():
    with pytest.raises(RuntimeError, match="KARN_MAIL_PORT"):
        from_environment({"KARN_MAIL_PORT": "twenty-five"})


def test_unknown_env_mode_is_refused(tmp_path):
    with pytest.raises(RuntimeError, match="KARN_ENV"):
        create_app({"ENV": "staging", "SECRET_KEY": "x"})


def test_instance_config_sits_between_defaults_and_environment(tmp_path, monkeypatch):
    instance = tmp_path / "instance"
    instance.mkdir()
    (instance / "config.py").write_text(
        "COMPANY_NAME = 'Bakkerij Jansen'\nTIMEZONE = 'Europe/London'\n"
    )
    monkeypatch.setenv("KARN_INSTANCE_PATH", str(instance))
    monkeypatch.setenv("KARN_TIMEZONE", "Europe/Brussels")
    monkeypatch.delenv("KARN_COMPANY_NAME", raising=False)
    app = create_app({"ENV": "testing", "DATABASE_URL": f"sqlite:///{tmp_path}/x.db"})
    assert app.config["COMPANY_NAME"] == "Bakkerij Jansen"
    assert app.config["TIMEZONE"] == "Europe/Brussels"


def test_sqlite_runs_in_wal_mode_with_foreign_keys(app):
    if db.engine.dialect.name != "sqlite":
        pytest.skip("SQLite only")
    with db.engine.connect() as conn:
        assert conn.execute(sa.text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(sa.text("PRAGMA foreign_keys")).scalar() == 1


def test_https_base_url_makes_cookies_secure(tmp_path):
    app = create_app(
        {
            "ENV": "testing",
            "SECRET_KEY": "x",
            "BASE_URL": "https://karn.example.nl",
            "DATABASE_URL": f"sqlite:///{tmp_path}/x.db",
        }
    )
    assert app.config["SESSION_COOKIE_SECURE"] is True
    assert app.config["SESSION_COOKIE_SAMESITE"] == "Lax"
    assert app.config["SESSION_COOKIE_HTTPONLY"] is True
