"""`flask users ...` and `flask apikeys ...`: thin wrappers over the operations."""

import click
import sqlalchemy as sa
from flask import Flask
from flask.cli import AppGroup

from karn.accounts import operations
from karn.accounts.models import ApiKey
from karn.enums import Language, Role
from karn.extensions import db

users_cli = AppGroup("users", help="Manage the people who sign in to Karn.")
apikeys_cli = AppGroup("apikeys", help="Manage keys for the REST API.")


@users_cli.command("create")
@click.option("--email", required=True)
@click.option("--name", default="")
@click.option("--role", type=click.Choice([r.value for r in Role]), required=True)
@click.option(
    "--language", type=click.Choice([x.value for x in Language]), default="nl"
)
@click.option("--password", default=None, help="Generated and printed when left out.")
def create_user(email, name, role, language, password):
    """Create a user."""
    try:
        user, pw = operations.create_user(
            email, name or email, role, language, password
        )
    except operations.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"Created {user.role.value} {user.email}")
    if not password:
        click.echo(f"Password: {pw}")


@users_cli.command("ensure-admin")
@click.option("--email", default="admin@localhost", show_default=True)
def ensure_admin(email):
    """Create the first administrator if there are no users yet, and print its login."""
    made = operations.ensure_admin(email)
    if made is None:
        click.echo("Users exist already; no administrator created.")
        return
    user, password = made
    db.session.commit()
    click.echo("")
    click.echo("  An administrator login was created (shown only this once):")
    click.echo(f"    email:    {user.email}")
    click.echo(f"    password: {password}")
    click.echo("")


@apikeys_cli.command("create")
@click.argument("name")
def create_api_key(name):
    """Create an API key and print it once."""
    try:
        key, secret = operations.create_api_key(name)
    except operations.AccountError as exc:
        raise click.ClickException(str(exc)) from exc
    db.session.commit()
    click.echo(f"API key {key.name!r} (shown only this once):")
    click.echo(secret)


@apikeys_cli.command("list")
def list_api_keys():
    """List API keys (never their secrets)."""
    for key in db.session.scalars(sa.select(ApiKey).order_by(ApiKey.id)):
        state = "revoked" if key.revoked_at else "active"
        used = key.last_used_at.isoformat() if key.last_used_at else "never"
        click.echo(f"{key.id}\t{key.prefix}…\t{key.name}\t{state}\tlast used {used}")


@apikeys_cli.command("revoke")
@click.argument("key_id", type=int)
def revoke_api_key(key_id):
    """Revoke an API key by its number (see `flask apikeys list`)."""
    key = db.session.get(ApiKey, key_id)
    if key is None:
        raise click.ClickException(f"No API key with number {key_id}.")
    operations.revoke_api_key(key)
    db.session.commit()
    click.echo(f"Revoked {key.name!r}.")


def register(app: Flask) -> None:
    app.cli.add_command(users_cli)
    app.cli.add_command(apikeys_cli)
