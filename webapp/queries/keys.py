"""API keys: management (owner connection, CLI) and the lookups the API makes."""
from psycopg import errors


def create(conn, name, prefix, key_hash):
    """Insert a key; return its row (raises UniqueViolation if the name is in use)."""
    return conn.execute(
        "INSERT INTO api_keys (name, prefix, key_hash) VALUES (%s, %s, %s)"
        " RETURNING id, name, prefix, created_at", (name, prefix, key_hash)).fetchone()


def list_all(conn):
    """Every key, active ones first, without hashes."""
    return conn.execute(
        "SELECT id, name, prefix, created_at, last_used_at, revoked_at FROM api_keys"
        " ORDER BY revoked_at IS NOT NULL, created_at, id").fetchall()


def revoke(conn, name):
    """Revoke the active key of this name; its row, or None if there is none."""
    return conn.execute(
        "UPDATE api_keys SET revoked_at = now() WHERE name = %s AND revoked_at IS NULL"
        " RETURNING id, name, prefix, revoked_at", (name,)).fetchone()


def lookup(conn, prefix):
    """Active keys with this prefix: [{id, name, key_hash}] (UndefinedFunction before 0006)."""
    return conn.execute("SELECT * FROM api_key_lookup(%s)", (prefix,)).fetchall()


def touch(conn, key_id):
    """Record that the key was used now."""
    conn.execute("SELECT api_key_touch(%s)", (key_id,))


def any_active(conn):
    """Whether an unrevoked key exists (False before migration 0006: none can)."""
    try:
        with conn.transaction():
            return conn.execute("SELECT api_keys_active() AS a").fetchone()["a"]
    except errors.UndefinedFunction:
        return False
