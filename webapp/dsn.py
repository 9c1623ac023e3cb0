"""Connection strings: the one place that parses and rewrites them.

psycopg's conninfo functions do the work, so URLs and key=value DSNs are
accepted alike, as anywhere libpq is.
"""
from urllib.parse import urlencode

from psycopg.conninfo import conninfo_to_dict, make_conninfo


def with_database(conninfo, dbname):
    """The same server and login, database `dbname`."""
    return make_conninfo(conninfo, dbname=dbname)


def with_user(conninfo, user):
    """The same server and database, logging in as `user` (the password dropped)."""
    params = conninfo_to_dict(conninfo)
    params.pop("password", None)
    return make_conninfo(**{**params, "user": user})


def with_login_of(conninfo, login):
    """The servers, database and options of `conninfo`, logging in as `login` does (its
    user, and its password if it has one)."""
    params = conninfo_to_dict(conninfo)
    params.pop("password", None)
    credentials = {key: value for key, value in conninfo_to_dict(login).items()
                   if key in ("user", "password")}
    return make_conninfo(**{**params, **credentials})


def describe(conninfo):
    """'database on host' for messages, without credentials."""
    params = conninfo_to_dict(conninfo)
    return f"database {params.get('dbname') or '(default)'} on {params.get('host') or 'localhost'}"


def as_uri(conninfo, scheme, **extra):
    """A URI with every parameter in its query (and `extra` ones), for tools that take
    only URIs (yoyo)."""
    return f"{scheme}:///?{urlencode({**conninfo_to_dict(conninfo), **extra})}"
