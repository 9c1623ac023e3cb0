"""The request list, /plot-data and /export on the gateway's request table, which has no
total_tokens column and allows NULL token counts (docs/gatewayz-schema.md): the demo
table's generated column and NOT NULL constraints are dropped in a scratch database.
Every stream ends whole, total_tokens computed (NULL counts as 0)."""
import csv
import io
import json

import psycopg
import pytest

from webapp import migrate

API = "/api/monitoring/chat-requests"
TOKENS = [(10, 5), (None, 7), (3, None), (None, None)]


@pytest.fixture
def client(make_database, app_factory):
    url = make_database()
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("ALTER TABLE chat_completion_requests DROP COLUMN total_tokens,"
                     " ALTER input_tokens DROP NOT NULL, ALTER output_tokens DROP NOT NULL")
        for i, (input_tokens, output_tokens) in enumerate(TOKENS):
            conn.execute("INSERT INTO chat_completion_requests (request_id, input_tokens, output_tokens,"
                         " processing_time_ms, status) VALUES (%s, %s, %s, 100, 'completed')",
                         (f"r{i}", input_tokens, output_tokens))
    return app_factory(DATABASE_URL=url, ALLOW_ANONYMOUS=True).test_client()


def totals():
    return [(i or 0) + (o or 0) for i, o in TOKENS]


def test_every_stream_computes_total_tokens(client):
    listed = client.get(API, query_string={"limit": 10}).get_json()
    assert sorted(r["total_tokens"] for r in listed["data"]) == sorted(totals())
    assert listed["metadata"]["total_count"] == len(TOKENS)
    plot = client.get(API + "/plot-data").get_json()
    assert sorted(plot["plot_data"]["tokens"]) == sorted(totals()), plot
    ndjson = client.get(API + "/export", query_string={"format": "ndjson"}).get_data(as_text=True)
    assert sorted(json.loads(line)["total_tokens"] for line in ndjson.splitlines()) == sorted(totals())
    rows = list(csv.DictReader(io.StringIO(client.get(API + "/export", query_string={"format": "csv"})
                                           .get_data(as_text=True))))
    assert sorted(int(r["total_tokens"]) for r in rows) == sorted(totals())
