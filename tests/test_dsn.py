"""Connection strings: URLs and key=value DSNs are rewritten alike."""
import pytest
from psycopg.conninfo import conninfo_to_dict
from yoyo.connections import parse_uri

from webapp import dsn

FORMS = ["postgresql://owner:secret@db.example:5433/gateway?sslmode=require",
         "host=db.example port=5433 dbname=gateway user=owner password=secret sslmode=require"]


@pytest.mark.parametrize("conninfo", FORMS)
def test_with_database_and_with_user(conninfo):
    assert conninfo_to_dict(dsn.with_database(conninfo, "other")) == {
        **conninfo_to_dict(conninfo), "dbname": "other"}
    as_api = conninfo_to_dict(dsn.with_user(conninfo, "chatstats_api"))
    assert as_api == {"host": "db.example", "port": "5433", "dbname": "gateway",
                      "user": "chatstats_api", "sslmode": "require"}


@pytest.mark.parametrize("conninfo", FORMS)
def test_describe_names_no_secret(conninfo):
    assert dsn.describe(conninfo) == "database gateway on db.example"


@pytest.mark.parametrize("conninfo", FORMS + ["dbname=x host=/tmp/sockets user=a%b&c=d"])
def test_uri_for_yoyo_carries_every_parameter(conninfo):
    uri = parse_uri(dsn.as_uri(conninfo, "postgresql+psycopg"))
    assert uri.scheme == "postgresql+psycopg" and uri.args == conninfo_to_dict(conninfo)
