"""Requests of models that left the catalog, or whose model has no provider (migration 0021).

The gateway's request table has no foreign key to its models, and a model's provider may
be NULL (docs/gatewayz-schema.md). The demo table has both constraints: here they are
dropped in a scratch database, as on the gateway's tables, and every statistic must
still count every request: /models lists a vanished model under its id, and the
providers' totals plus the unattributed count add up to all requests. In each mode:
the SQL functions over rollups, over raw rows, and the app's fallback without them.
"""
import psycopg
import pytest
from psycopg.rows import dict_row

from webapp import migrate, rollups

API = "/api/monitoring/chat-requests"
# model: requests
REQUESTS = {"kept": 3, "vanished": 2, "without provider": 4, None: 1}


@pytest.fixture(params=["rollup", "raw", "fallback"])
def client(request, make_database, app_factory):
    url = make_database()
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        provider = conn.execute("INSERT INTO providers (name, slug) VALUES ('P', 'p') RETURNING id").fetchone()["id"]
        ids = {name: conn.execute(
            "INSERT INTO models (provider_id, model_name, provider_model_id) VALUES (%s, %s, %s)"
            " RETURNING id", (None if name == "without provider" else provider, name, name)
        ).fetchone()["id"] for name in REQUESTS if name}
        for name, count in REQUESTS.items():
            conn.execute("INSERT INTO chat_completion_requests (request_id, model_id, input_tokens, output_tokens,"
                         " processing_time_ms, status) SELECT 'r-' || %s || '-' || g, %s, 10, 5, 100 * g,"
                         " 'completed' FROM generate_series(1, %s) g", (name or "none", ids.get(name), count))
        conn.execute("DELETE FROM models WHERE id = %s", (ids["vanished"],))
        rollups.catch_up(conn)
    config = {"STATS_SOURCE": "raw"} if request.param == "raw" else {}
    if request.param == "fallback":  # the API's grants go with chatstats: the owner reads
        migrate.uninstall(url)
        config = {"API_DATABASE_URL": url}
    test_client = app_factory(DATABASE_URL=url, ALLOW_ANONYMOUS=True, **config).test_client()
    test_client.ids = ids
    return test_client


def test_every_request_counts_and_vanished_models_show_as_such(client):
    ids = client.ids
    providers = client.get(API + "/providers").get_json()
    assert [(p["name"], p["total_requests"], p["models_with_requests"]) for p in providers["data"]] == [("P", 3, 1)]
    assert providers["metadata"]["unattributed_requests"] == sum(REQUESTS.values()) - 3

    models = client.get(API + "/models").get_json()["data"]
    assert [(m["model_id"], m["model_name"], m["provider"]["slug"], m["stats"]["total_requests"])
            for m in models] == [(ids["without provider"], "without provider", None, 4), (ids["kept"], "kept", "p", 3),
                                 (ids["vanished"], None, None, 2)]
    counts = client.get(API + "/counts").get_json()["data"]
    assert [(c["model_id"], c["model_identifier"], c["request_count"]) for c in counts] == \
        [(ids["without provider"], "without provider", 4), (ids["kept"], "kept", 3), (ids["vanished"], None, 2)]
    one = client.get(f"{API}/models/{ids['vanished']}").get_json()["data"]
    assert (one["model_name"], one["stats"]["total_requests"]) == (None, 2)
