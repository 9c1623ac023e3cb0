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


@pytest.mark.parametrize("standbys", [
    "postgresql://reader:old@db-r1:5433,db-r2/gateway?target_session_attrs=prefer-standby",
    "host=db-r1,db-r2 port=5433,5432 dbname=gateway user=reader password=old "
    "target_session_attrs=prefer-standby"])
@pytest.mark.parametrize("login, credentials", [
    ("postgresql://chatstats_api:secret@db.example/gateway", {"user": "chatstats_api", "password": "secret"}),
    ("host=db.example user=chatstats_api", {"user": "chatstats_api"})])
def test_standbys_with_the_api_login(standbys, login, credentials):
    """The read pool's URL: the standbys' hosts, ports and options, the API's login."""
    params = conninfo_to_dict(dsn.with_login_of(standbys, login))
    assert params == {"host": "db-r1,db-r2", "port": params["port"], "dbname": "gateway",
                      "target_session_attrs": "prefer-standby", **credentials}
    assert params["port"] in ("5433,", "5433,5432")
