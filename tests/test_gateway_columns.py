"""Every endpoint on the gateway's columns (docs/gatewayz-schema.md): its request table has
no total_tokens, request_id or error_message column (its code writes the last two, its
migrations create neither) and allows NULL token counts; its catalog has no
models.model_id (model_name is the identifier now). The demo tables have that shape but
for request_id and error_message, which they lose in a scratch database. Every stream
ends whole, total_tokens computed (NULL counts as 0), the absent columns null; a model's
identifier is its model_name (migration 0023), also as the request list's models.model_id."""
import csv
import io
import json

import psycopg
import pytest
from psycopg.rows import dict_row

from webapp import migrate, rollups

API = "/api/monitoring/chat-requests"
TOKENS = [(10, 5), (None, 7), (3, None), (None, None)]


@pytest.fixture
def client(make_database, app_factory):
    url = make_database()
    migrate.apply(url)
    with psycopg.connect(url, autocommit=True, row_factory=dict_row) as conn:
        conn.execute("ALTER TABLE chat_completion_requests DROP COLUMN request_id, DROP COLUMN error_message")
        provider = conn.execute("INSERT INTO providers (name, slug) VALUES ('P', 'p') RETURNING id").fetchone()["id"]
        model = conn.execute("INSERT INTO models (provider_id, model_name, provider_model_id)"
                             " VALUES (%s, 'gpt-4o', 'gpt-4o-2024') RETURNING id", (provider,)).fetchone()["id"]
        for input_tokens, output_tokens in TOKENS:
            conn.execute("INSERT INTO chat_completion_requests (model_id, input_tokens, output_tokens,"
                         " processing_time_ms, status) VALUES (%s, %s, %s, 100, 'completed')",
                         (model, input_tokens, output_tokens))
        rollups.catch_up(conn)
    return app_factory(DATABASE_URL=url, ALLOW_ANONYMOUS=True).test_client()


def totals():
    return [(i or 0) + (o or 0) for i, o in TOKENS]


def test_every_stream_computes_total_tokens_and_leaves_absent_columns_null(client):
    listed = client.get(API, query_string={"limit": 10}).get_json()
    assert sorted(r["total_tokens"] for r in listed["data"]) == sorted(totals())
    assert listed["metadata"]["total_count"] == len(TOKENS)
    assert {(r["request_id"], r["error_message"], r["models"]["model_id"], r["models"]["model_name"])
            for r in listed["data"]} == {(None, None, "gpt-4o", "gpt-4o")}
    plot = client.get(API + "/plot-data").get_json()
    assert sorted(plot["plot_data"]["tokens"]) == sorted(totals()), plot
    ndjson = [json.loads(line) for line in
              client.get(API + "/export", query_string={"format": "ndjson"}).get_data(as_text=True).splitlines()]
    assert sorted(r["total_tokens"] for r in ndjson) == sorted(totals())
    assert {(r["request_id"], r["error_message"], r["model_identifier"]) for r in ndjson} == {(None, None, "gpt-4o")}
    rows = list(csv.DictReader(io.StringIO(client.get(API + "/export", query_string={"format": "csv"})
                                           .get_data(as_text=True))))
    assert sorted(int(r["total_tokens"]) for r in rows) == sorted(totals())
    assert {(r["request_id"], r["model_identifier"]) for r in rows} == {("", "gpt-4o")}


def test_a_models_identifier_is_its_name(client):
    models = client.get(API + "/models").get_json()["data"]
    assert [(m["model_identifier"], m["model_name"], m["stats"]["total_requests"]) for m in models] == \
        [("gpt-4o", "gpt-4o", len(TOKENS))]
    counts = client.get(API + "/counts").get_json()["data"]
    assert [(c["model_identifier"], c["request_count"]) for c in counts] == [("gpt-4o", len(TOKENS))]
    breakdown = client.get(API + "/breakdown", query_string={"by": "model"}).get_json()["data"]
    assert [(g["name"], g["total_requests"]) for g in breakdown] == [("gpt-4o", len(TOKENS))]
