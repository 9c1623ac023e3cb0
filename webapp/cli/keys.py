"""`chatstats keys create|list|revoke`: API key management (with the owner's connection)."""
from contextlib import contextmanager

import click
import psycopg

from .. import auth
from ..queries import keys


@contextmanager
def _connect(settings):
    try:
        with settings.connect() as conn:
            yield conn
    except psycopg.errors.UndefinedTable:
        raise click.ClickException("there is no api_keys table yet: run `chatstats migrate`")


keys_group = click.Group("keys", help="API keys (requests send `Authorization: Bearer <key>` or `X-API-Key`).")


@keys_group.command("create")
@click.option("--name", required=True, help="Who or what uses the key (unique among active keys).")
@click.pass_obj
def create_command(settings, name):
    """Create a key and print it once (only its hash is stored)."""
    name = name.strip()
    if not 1 <= len(name) <= 100 or not name.isprintable():
        raise click.BadParameter("1-100 printable characters.", param_hint="--name")
    key, prefix, key_hash = auth.new_key()
    try:
        with _connect(settings) as conn:
            keys.create(conn, name, prefix, key_hash)
    except psycopg.errors.UniqueViolation:
        raise click.ClickException(f"an active key is already named {name!r}")
    click.echo(key)
    click.echo(f"key {name!r} created; it is shown only now. Send it as "
               "`Authorization: Bearer <key>`.", err=True)


@keys_group.command("list")
@click.pass_obj
def list_command(settings):
    """Every key: name, prefix, created, last used (per cache period), revoked."""
    with _connect(settings) as conn:
        rows = keys.list_all(conn)
    if not rows:
        click.echo("no API keys (the API serves loopback clients only)")
    for row in rows:
        state = f"revoked {row['revoked_at']:%Y-%m-%d %H:%M}" if row["revoked_at"] else "active"
        used = f"{row['last_used_at']:%Y-%m-%d %H:%M}" if row["last_used_at"] else "never"
        click.echo(f"{row['name']}\t{row['prefix']}...\tcreated {row['created_at']:%Y-%m-%d %H:%M}"
                   f"\tlast used {used}\t{state}")


@keys_group.command("revoke")
@click.argument("name")
@click.pass_obj
def revoke_command(settings, name):
    """Revoke the active key NAME (every worker rejects it within AUTH_CACHE_S seconds)."""
    with _connect(settings) as conn:
        row = keys.revoke(conn, name)
    if row is None:
        raise click.ClickException(f"no active key named {name!r}")
    click.echo(f"revoked {row['name']!r} ({row['prefix']}...)")
