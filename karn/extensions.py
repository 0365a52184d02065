"""Flask extensions, created unbound and bound to the app in create_app."""

from flask_babel import Babel
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import LoginManager
from flask_migrate import Migrate
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
