"""Alembic environment: Karn's metadata, batch mode for SQLite, plain column types."""

import logging
import warnings
from logging.config import fileConfig

from alembic import context
from flask import current_app
from sqlalchemy.types import TypeDecorator

config = context.config
if config.config_file_name and not logging.getLogger().handlers:
    fileConfig(config.config_file_name, disable_existing_loggers=False)
log = logging.getLogger("alembic.env")

# SQLite cannot reflect expression indexes; they are compared on PostgreSQL.
warnings.filterwarnings(
    "ignore", message="autogenerate skipping metadata-specified expression-based index"
)
warnings.filterwarnings(
    "ignore", message="Skipped unsupported reflection of expression-based index"
)

migrate_ext = current_app.extensions["migrate"]
engine = migrate_ext.db.engine
target_metadata = migrate_ext.db.metadata


def render_item(type_, obj, autogen_context):
    # Karn's column types are Python-side conversions over plain SQL types;
    # migrations spell out the SQL type so they never import application code.
    if type_ == "type" and isinstance(obj, TypeDecorator):
        impl = obj.impl_instance if hasattr(obj, "impl_instance") else obj.impl
        return "sa." + repr(impl)
    return False


def process_revision_directives(context_, revision, directives):
    # An autogenerate run that finds nothing writes no empty revision.
    if getattr(config.cmd_opts, "autogenerate", False):
        script = directives[0]
        if script.upgrade_ops.is_empty():
            directives[:] = []
            log.info("No changes in schema detected.")


def run_migrations_offline():
    context.configure(
        url=engine.url.render_as_string(hide_password=False),
        target_metadata=target_metadata,
        literal_binds=True,
        render_as_batch=True,
        render_item=render_item,
    )
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online():
    conf_args = dict(migrate_ext.configure_args)
    conf_args.setdefault("process_revision_directives", process_revision_directives)
    conf_args.setdefault("render_item", render_item)
    conf_args.setdefault("compare_type", True)
    with engine.connect() as connection:
        context.configure(
            connection=connection, target_metadata=target_metadata, **conf_args
        )
        with context.begin_transaction():
            context.run_migrations()


if context.is_offline_mode():
    run_migrations_offline()
else:
    run_migrations_online()
