"""Flask extensions, created unbound and bound to the app in create_app."""

import click
from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_sqlalchemy import SQLAlchemy
from flask_wtf.csrf import CSRFProtect
from sqlalchemy import MetaData
from sqlalchemy.orm import DeclarativeBase

# Named constraints let Alembic drop and alter them, on SQLite too.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base whose metadata names every constraint."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class _DeferredMigrateConfig:
    """What Flask-Migrate keeps in ``app.extensions["migrate"]``, made on first use."""

    def __init__(self, app, db, directory: str, options: dict):
        self._setup = (app, db, directory, options)

    def __getattr__(self, name: str):
        from flask_migrate import Migrate as FlaskMigrate

        app, db, directory, options = self._setup
        # Replaces this stand-in (and the `db` command) with Flask-Migrate's own.
        FlaskMigrate().init_app(app, db, directory=directory, **options)
        return getattr(app.extensions["migrate"], name)


class _DeferredDbGroup(click.Group):
    """`flask db`: Flask-Migrate's command group, loaded when it is run."""

    def make_context(self, info_name, args, parent=None, **extra):
        from flask_migrate.cli import db as db_group

        return db_group.make_context(info_name, args, parent=parent, **extra)


class Migrate:
    """Flask-Migrate, imported when a migration runs.

    Flask-Migrate imports Alembic, and Alembic its dialects, Mako and
    Pygments: a tenth of a second that every `flask` command, web process and
    cron pass would otherwise pay for the few that migrate. Same
    ``init_app`` as Flask-Migrate's; ``flask db ...`` and
    ``flask_migrate.upgrade()`` work as with it.
    """

    def init_app(self, app, db, directory: str, **options) -> None:
        app.extensions["migrate"] = _DeferredMigrateConfig(app, db, directory, options)
        app.cli.add_command(
            _DeferredDbGroup("db", help="Perform database migrations."), name="db"
        )


db = SQLAlchemy(model_class=Base)
migrate = Migrate()
csrf = CSRFProtect()
login_manager = LoginManager()
babel = Babel()
limiter = Limiter(key_func=get_remote_address)

# The execution option that asks PostgreSQL to keep a statement's plan.
PREPARED = "karn_prepared"


def prepared(statement):
    """Mark a statement of a hot path to be prepared on PostgreSQL.

    Karn turns psycopg's automatic preparation off (see karn.app), because a
    plan kept for a batch statement can outlive the table sizes it was made
    for. The survey pages' few short statements run many times a second on
    indexed lookups, and planning them costs PostgreSQL more than running
    them: those are prepared once per connection.
    """
    return statement.execution_options(**{PREPARED: True})
