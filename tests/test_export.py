"""GET /api/monitoring/chat-requests/export: every matching row, exactly, as CSV or NDJSON.

The expected rows come from a direct SELECT of the request table (joined with models
and providers, unfiltered), filtered and ordered here in Python; the export must hold
exactly those rows, every value unchanged (costs not rounded, NULLs empty / null).
"""
import csv
import io
import json
import re
from datetime import timezone
from decimal import Decimal

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from helpers import make_key
from test_exactness import T0, US, datasets, draw_request_filters, load, range_query

EXPORT = "/api/monitoring/chat-requests/export"
# Spelt out here, not imported: a column renamed or moved is a change clients see.
COLUMNS = ["id", "request_id", "model_id", "model_identifier", "model_name", "provider_id",
           "provider_slug", "provider_name", "input_tokens", "output_tokens", "total_tokens",
           "processing_time_ms", "status", "error_message", "user_id", "api_key_id", "cost_usd",
           "created_at"]
MIMETYPES = {"csv": "text/csv", "ndjson": "application/x-ndjson"}
NASTY_MESSAGES = ["a,b", 'say "hi"', '"', '""', ",", "line 1\nline 2", "cr\ronly", "crlf\r\nend",
                  "", " leading and trailing ", "tab\there", "ünïcödé ✓ 🚀", "back\\slash",
                  "=SUM(A1:A2)", "'quoted'", "{\"json\": [1, 2]}", "x" * 5000]
# Few distinct ids, so that filters on them match; and the largest bigint.
IDS = st.none() | st.sampled_from([0, 1, 2, 2**63 - 1])

SELECT_ALL = """
    SELECT r.id, r.request_id, r.model_id, m.model_name AS model_identifier, m.model_name,
           p.id AS provider_id, p.slug AS provider_slug, p.name AS provider_name,
           r.input_tokens, r.output_tokens, coalesce(r.input_tokens, 0) + coalesce(r.output_tokens, 0)
           AS total_tokens, r.processing_time_ms, r.status,
           r.error_message, r.user_id, r.api_key_id, r.cost_usd, r.created_at
      FROM chat_completion_requests r
      LEFT JOIN models m ON m.id = r.model_id
      LEFT JOIN providers p ON p.id = m.provider_id
"""


def expected_rows(conn, q, order="desc"):
    """The rows the export must hold, from a direct SELECT, filtered and sorted in Python."""
    rows = conn.execute(SELECT_ALL).fetchall()
    checks = {
        "model_id": lambda r, v: r["model_id"] == v,
        "provider_id": lambda r, v: r["provider_id"] == v,
        "model_name": lambda r, v: r["model_name"] is not None and v.lower() in r["model_name"].lower(),
        "status": lambda r, v: r["status"] == v,
        "user_id": lambda r, v: r["user_id"] == v,
        "api_key_id": lambda r, v: r["api_key_id"] == v,
        "start": lambda r, v: r["created_at"] >= v,
        "end": lambda r, v: r["created_at"] < v,
    }
    for key, check in checks.items():
        if q.get(key) is not None:
            rows = [r for r in rows if check(r, q[key])]
    return sorted(rows, key=lambda r: (r["created_at"], r["id"]), reverse=order == "desc")


def json_value(column, value):
    """A column's value as the export's JSON has it: the cost as exact text (numeric(12, 6):
    six decimals), latencies (numeric) as JSON numbers, parsed as Decimal."""
    if column == "cost_usd" and value is not None:
        return format(value, "f")
    if hasattr(value, "astimezone"):
        return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return value


def csv_value(column, value):
    value = json_value(column, value)
    return "" if value is None else str(value)


def parse(response, fmt):
    """The export's rows: lists of CSV fields (header checked), or NDJSON objects."""
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    assert response.mimetype == MIMETYPES[fmt]
    disposition = response.headers["Content-Disposition"]
    assert re.fullmatch(rf'attachment; filename="chat-requests-\d{{8}}T\d{{6}}Z\.{fmt}"', disposition)
    text = response.get_data(as_text=True)
    if fmt == "ndjson":
        assert text == "" or text.endswith("\n")
        return [json.loads(line, parse_float=Decimal) for line in text.splitlines()]
    assert text.endswith("\r\n")
    header, *rows = csv.reader(io.StringIO(text, newline=""))
    assert header == COLUMNS
    return rows


def check_export(client, conn, query, q, fmt, order):
    params = {**query, "format": fmt, "order": order}
    got = parse(client.get(EXPORT, query_string=params), fmt)
    want = expected_rows(conn, q, order)
    if fmt == "ndjson":
        assert got == [{c: json_value(c, r[c]) for c in COLUMNS} for r in want], params
    else:
        assert got == [[csv_value(c, r[c]) for c in COLUMNS] for r in want], params
    return got


def with_nasty_values(draw, rows):
    for r in rows:
        r["error_message"] = draw(st.none() | st.sampled_from(NASTY_MESSAGES))
        r["user_id"], r["api_key_id"] = draw(IDS), draw(IDS)
    return rows


@settings(max_examples=50, deadline=None, print_blob=True,
          phases=[Phase.explicit, Phase.reuse, Phase.generate],
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(st.data())
def test_exports_equal_the_raw_rows(app, conn, empty_database, draw_data):
    draw = draw_data.draw
    empty_database()  # keys too: make one
    client = app.test_client()
    client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {make_key(conn, 'export')}"
    providers, models, rows = draw(datasets())
    data = load(conn, providers, models, with_nasty_values(draw, rows))
    for _ in range(2):
        q = draw_request_filters(draw, data)
        q["user_id"], q["api_key_id"] = draw(IDS), draw(IDS)
        if draw(st.booleans()):  # most exports filter on neither
            q["user_id"] = q["api_key_id"] = None
        query = {key: q[key] for key in ("model_id", "provider_id", "model_name", "status",
                                         "user_id", "api_key_id") if q[key] is not None}
        query.update(range_query(draw, q["start"], q["end"]))
        check_export(client, conn, query, q, draw(st.sampled_from(sorted(MIMETYPES))),
                     draw(st.sampled_from(["asc", "desc"])))


def insert_catalog(conn):
    provider = conn.execute("INSERT INTO providers (name, slug) VALUES ('Open, \"AI\"', 'openai')"
                            " RETURNING id").fetchone()["id"]
    return conn.execute("INSERT INTO models (provider_id, model_name, provider_model_id)"
                        " VALUES (%s, 'gpt-4o, \"omni\"', 'gpt-4o-1') RETURNING id",
                        (provider,)).fetchone()["id"]


def insert_request(conn, i, model_id=None, **values):
    row = {"request_id": f"r{i}", "model_id": model_id, "input_tokens": i, "output_tokens": 2 * i,
           "processing_time_ms": 10 * i, "status": "completed", "error_message": None,
           "user_id": None, "api_key_id": None, "cost_usd": None, "created_at": T0 + i * US, **values}
    conn.execute("INSERT INTO chat_completion_requests (request_id, model_id, input_tokens,"
                 " output_tokens, processing_time_ms, status, error_message, user_id, api_key_id,"
                 " cost_usd, created_at) VALUES (%(request_id)s, %(model_id)s, %(input_tokens)s,"
                 " %(output_tokens)s, %(processing_time_ms)s, %(status)s, %(error_message)s,"
                 " %(user_id)s, %(api_key_id)s, %(cost_usd)s, %(created_at)s)", row)


def test_nasty_error_messages_round_trip_in_both_formats(client, conn):
    model = insert_catalog(conn)
    for i, message in enumerate(NASTY_MESSAGES):
        insert_request(conn, i, model, status="failed", error_message=message,
                       cost_usd=Decimal("123456.123456"))
    for fmt in MIMETYPES:
        rows = check_export(client, conn, {}, {}, fmt, "asc")
        column = COLUMNS.index("error_message")
        assert [r["error_message"] if fmt == "ndjson" else r[column] for r in rows] == NASTY_MESSAGES
    text = client.get(EXPORT).get_data(as_text=True)
    assert '"line 1\nline 2"' in text and '"say ""hi"""' in text and '"a,b"' in text
    assert '"Open, ""AI"""' in text and '"gpt-4o, ""omni"""' in text


def test_nulls_are_empty_fields_and_json_null(client, conn):
    """No model (so no provider), no user, no key, no cost, no error message."""
    insert_request(conn, 1)
    assert client.get(EXPORT).get_data(as_text=True).split("\r\n")[1] == \
        "1,r1,,,,,,,1,2,3,10,completed,,,,,2026-03-01T00:00:00.000001Z"
    (row,) = parse(client.get(EXPORT, query_string={"format": "ndjson"}), "ndjson")
    assert row == {"id": 1, "request_id": "r1", "model_id": None, "model_identifier": None,
                   "model_name": None, "provider_id": None, "provider_slug": None,
                   "provider_name": None, "input_tokens": 1, "output_tokens": 2, "total_tokens": 3,
                   "processing_time_ms": 10, "status": "completed", "error_message": None,
                   "user_id": None, "api_key_id": None, "cost_usd": None,
                   "created_at": "2026-03-01T00:00:00.000001Z"}


def test_exact_costs_and_bigints(client, conn):
    for i, cost in enumerate(["0.000000", "0.000001", "999999.999999", "0.100000"], start=1):
        insert_request(conn, i, cost_usd=Decimal(cost), user_id=2**63 - 1, api_key_id=0)
    rows = parse(client.get(EXPORT, query_string={"format": "ndjson", "order": "asc"}), "ndjson")
    assert [r["cost_usd"] for r in rows] == ["0.000000", "0.000001", "999999.999999", "0.100000"]
    assert {r["user_id"] for r in rows} == {2**63 - 1} and {r["api_key_id"] for r in rows} == {0}
    rows = parse(client.get(EXPORT, query_string={"user_id": 2**63 - 1, "api_key_id": 0}), "csv")
    assert [r[COLUMNS.index("cost_usd")] for r in rows] == ["0.100000", "999999.999999", "0.000001",
                                                            "0.000000"]


def test_defaults_csv_newest_first_and_empty_exports(client, conn):
    response = client.get(EXPORT)
    assert parse(response, "csv") == [] and response.get_data(as_text=True) == ",".join(COLUMNS) + "\r\n"
    assert client.get(EXPORT, query_string={"format": "ndjson"}).get_data() == b""
    for i in range(5):
        insert_request(conn, i, created_at=T0)  # one instant: ties go by id
    rows = parse(client.get(EXPORT), "csv")
    assert [r[0] for r in rows] == ["5", "4", "3", "2", "1"]
    rows = parse(client.get(EXPORT, query_string={"order": "asc"}), "csv")
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5"]


def test_one_snapshot_streamed_in_chunks(client, conn):
    """Rows committed while the export streams are not in it."""
    for i in range(20):
        insert_request(conn, i)
    response = client.get(EXPORT, query_string={"format": "ndjson", "order": "asc"})
    assert response.status_code == 200 and response.is_streamed
    chunks = iter(response.response)
    received = [next(chunks)]
    for i in range(20, 25):
        insert_request(conn, i)
    received += list(chunks)
    response.close()
    assert len(received) >= 7  # 20 rows in chunks of 3 (the tests' STREAM_CHUNK_ROWS)
    rows = [json.loads(line) for line in b"".join(received).decode().splitlines()]
    assert [r["request_id"] for r in rows] == [f"r{i}" for i in range(20)]


def test_bad_input_is_422_naming_the_field(client):
    for query, field in [({"format": "xml"}, "format"), ({"format": "CSV"}, "format"),
                         ({"order": "up"}, "order"), ({"order": ""}, "order"),
                         ({"user_id": "-1"}, "user_id"), ({"api_key_id": "x"}, "api_key_id"),
                         ({"api_key_id": str(2**63)}, "api_key_id"), ({"status": "ok"}, "status"),
                         ({"limit": "10"}, "limit"), ({"format": "csv\x00"}, "format"),
                         ({"start_date": "2026-02-01", "end_date": "2026-01-01"}, "start_date")]:
        response = client.get(EXPORT, query_string=query)
        assert response.status_code == 422, query
        body = response.get_json()
        assert body["success"] is False and field in body["errors"]["query"], (query, body)


def test_the_list_keeps_its_filters(client):
    """user_id and api_key_id filter the export only: the list's exact count comes from
    statistics that do not have them."""
    response = client.get("/api/monitoring/chat-requests", query_string={"user_id": 1})
    assert response.status_code == 422 and "user_id" in response.get_json()["errors"]["query"]


def test_a_key_is_required(app, api_key):
    response = app.test_client().get(EXPORT, environ_base={"REMOTE_ADDR": "203.0.113.9"})
    assert response.status_code == 401
    assert response.get_json()["success"] is False


def test_documented_in_the_spec(client):
    operation = client.get("/openapi.json").get_json()["paths"][EXPORT]["get"]
    content = operation["responses"]["200"]["content"]
    assert set(content) == set(MIMETYPES.values())
    assert content["text/csv"]["example"].startswith(",".join(COLUMNS) + "\r\n")
    ndjson = content["application/x-ndjson"]["example"]
    assert list(json.loads(ndjson.splitlines()[0])) == COLUMNS
    assert "Content-Disposition" in operation["responses"]["200"]["headers"]
    parameters = {p["name"]: p for p in operation["parameters"]}
    assert {"format", "order", "user_id", "api_key_id", "model_id", "provider_id", "model_name",
            "status", "start_date", "end_date"} == set(parameters)
    assert parameters["format"]["schema"]["enum"] == ["csv", "ndjson"]
    assert parameters["format"]["schema"]["default"] == "csv"
    assert parameters["order"]["schema"]["default"] == "desc"


def test_a_timeout_before_the_first_row_is_a_504(app_factory, database_url, conn, api_key):
    """The export's own statement timeout applies, and the first chunk is read before the
    response starts: a table locked for longer is a 504, not a truncated 200."""
    app = app_factory(DATABASE_URL=database_url, EXPORT_STATEMENT_TIMEOUT_MS=300)
    insert_request(conn, 1)
    with conn.transaction():
        conn.execute("LOCK TABLE chat_completion_requests IN ACCESS EXCLUSIVE MODE")
        response = app.test_client().get(EXPORT, headers={"X-API-Key": api_key})
    assert response.status_code == 504, response.get_data(as_text=True)[:300]
    assert response.get_json()["success"] is False and response.headers["Retry-After"]
    response = app.test_client().get(EXPORT, headers={"X-API-Key": api_key})
    assert len(parse(response, "csv")) == 1
