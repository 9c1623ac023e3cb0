"""Request rows, streamed so that a 100,000-row page (or a plot or an export of millions
of requests) needs no more memory than 100 rows: the request list, the plot feed and
the export."""
import csv
import io
import json
from contextlib import ExitStack
from datetime import datetime, timezone

from flask import Response, current_app
from flask.views import MethodView

from .. import db
from ..queries.request_list import EXPORT_COLUMNS, PLOT_SERIES, open_export, open_page, open_plot
from . import schemas
from .blueprint import Blueprint

blp = Blueprint("requests", __name__, url_prefix="/api/monitoring/chat-requests",
                description="Individual chat completion requests.")

_metadata_schema = schemas.RequestListMetadata()
_plot_metadata_schema = schemas.PlotDataMetadata()


def _json_body(page, args, done):
    """The response envelope, written piece by piece as the page's chunks arrive;
    `done` (ending the page) is left as soon as the last row is written."""
    with done:
        yield '{"success": true, "data": ['
        returned = yield from _json_items(page.chunks)
    metadata = _metadata_schema.dump({
        "timestamp": datetime.now(timezone.utc), "method": "sql",
        "total_count": page.total, "replica_lag_seconds": page.replica_lag_seconds,
        "complete_from": page.complete_from,
        "limit": args["limit"], "offset": args["offset"],
        "returned_count": returned, "filters": args})
    yield '], "metadata": ' + json.dumps(metadata) + "}"


def _json_items(chunks):
    """The items of JSON texts in chunks, comma-separated, a chunk at a time; returns how many."""
    written = 0
    for items in chunks:
        yield ("," if written else "") + ",".join(items)
        written += len(items)
    return written


def _plot_body(plot, args, done):
    """gatewayz's plot feed, written piece by piece: the newest rows, then each array
    (one pass over the matching rows each); `done` is left after the last value."""
    with done:
        yield '{"success": true, "recent_requests": [' + ",".join(plot.recent) + '], "plot_data": {'
        counts = []
        for i, name in enumerate(PLOT_SERIES):
            yield f'{", " if i else ""}"{name}": ['
            counts.append((yield from _json_items(plot.series(name))))
            yield "]"
    if len(set(counts)) != 1:  # one snapshot: every array holds the same rows
        raise RuntimeError(f"plot arrays of different lengths: {counts}")  # an incomplete body
    metadata = _plot_metadata_schema.dump({
        "timestamp": datetime.now(timezone.utc), "method": "sql",
        "recent_count": len(plot.recent), "total_count": counts[0],
        "replica_lag_seconds": plot.replica_lag_seconds,
        "compression": "arrays", "format_version": "1.0", "filters": args})
    yield '}, "metadata": ' + json.dumps(metadata) + "}"


def _csv_body(chunks, args, done):
    """The header line, then the rows a chunk at a time, quoted by the csv module (RFC 4180:
    fields with commas, quotes or line breaks are quoted; NULL is an empty field)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(EXPORT_COLUMNS)
    with done:
        yield buffer.getvalue()
        for rows in chunks:
            buffer.seek(0)
            buffer.truncate()
            writer.writerows(rows)
            yield buffer.getvalue()


def _ndjson_body(chunks, args, done):
    """One JSON object (built by PostgreSQL) per line, a chunk at a time."""
    with done:
        for rows in chunks:
            yield "\n".join(rows) + "\n"


EXPORTS = {"csv": (_csv_body, "text/csv"), "ndjson": (_ndjson_body, "application/x-ndjson")}


def _streamed(open_rows, body, args, mimetype="application/json"):
    """A response streaming body(rows, args, done) from the rows open_rows(conn) opens.

    The rows open here, so that a database fault before the first byte is still a 5xx;
    they are read as the body is written. They end (the transaction, then the
    connection back to the pool) after the last row, or when the server closes the
    response of a client that left early.
    """
    with ExitStack() as opened:
        conn = opened.enter_context(db.connection())
        rows = opened.enter_context(open_rows(conn))
        done = opened.pop_all()
    response = Response(body(rows, args, done), mimetype=mimetype)
    response.call_on_close(done.close)
    return response


@blp.route("")
class RequestList(MethodView):
    @blp.arguments(schemas.RequestListArgs, location="query")
    @blp.response(200, schemas.RequestListResponse)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """List requests, newest first

        Each row carries its model, which carries its provider (`models.providers`,
        as in gatewayz). `metadata.total_count` counts every row matching all
        filters; the page is streamed.
        """
        filters = {key: args[key] for key in schemas.RequestListFilters().fields}
        chunk_rows = current_app.config["STREAM_CHUNK_ROWS"]
        return _streamed(lambda conn: open_page(conn, filters, args["limit"], args["offset"],
                                                chunk_rows), _json_body, args)


@blp.route("/plot-data")
class PlotData(MethodView):
    @blp.arguments(schemas.PlotDataArgs, location="query")
    @blp.response(200, schemas.PlotDataResponse)
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """Data for plotting: the newest requests and every request's tokens and latency

        gatewayz's scatter-plot feed: `recent_requests` holds the 10 newest
        matching rows (as the request list has them); `plot_data` holds the total
        tokens, processing time and creation time of every matching request as
        three arrays aligned by index, oldest first. No page limit: the arrays are
        streamed, and `metadata.total_count` is their exact length.
        """
        chunk_rows = current_app.config["STREAM_CHUNK_ROWS"]
        return _streamed(lambda conn: open_plot(conn, args, chunk_rows), _plot_body, args)


_CSV_EXAMPLE = (",".join(EXPORT_COLUMNS) + "\r\n"
                "81,req-81,1,gpt-4o,GPT-4o,1,openai,OpenAI,120,430,550,1840,completed,,7,3,0.001350,"
                "2026-11-20T08:31:12.402113Z\r\n"
                '82,req-82,,,,,,,80,0,80,312,failed,"upstream error: 502, ""bad gateway""",,,,'
                "2026-11-20T08:31:13.000000Z\r\n")
_NDJSON_EXAMPLE = (
    '{"id" : 81, "request_id" : "req-81", "model_id" : 1, "model_identifier" : "gpt-4o", '
    '"model_name" : "GPT-4o", "provider_id" : 1, "provider_slug" : "openai", "provider_name" : '
    '"OpenAI", "input_tokens" : 120, "output_tokens" : 430, "total_tokens" : 550, '
    '"processing_time_ms" : 1840, "status" : "completed", "error_message" : null, "user_id" : 7, '
    '"api_key_id" : 3, "cost_usd" : "0.001350", "created_at" : "2026-11-20T08:31:12.402113Z"}\n')
# Documented whole here: flask-smorest's @blp.response documents a single content type.
_EXPORT_RESPONSE = {
    "description": "Every matching request, streamed as `format` says, as an attachment.",
    "headers": {"Content-Disposition": {
        "description": 'attachment; filename="chat-requests-<UTC time>.<format>", e.g. '
                       "chat-requests-20261124T113000Z.csv",
        "schema": {"type": "string"}}},
    "content": {"text/csv": {"schema": {"type": "string"}, "example": _CSV_EXAMPLE},
                "application/x-ndjson": {"schema": {"type": "string"}, "example": _NDJSON_EXAMPLE}}}


@blp.route("/export")
class RequestExport(MethodView):
    @blp.arguments(schemas.ExportArgs, location="query")
    @blp.response(200)
    @blp.doc(responses={"200": _EXPORT_RESPONSE})
    @blp.alt_response(422, description="Invalid query parameters.")
    def get(self, args):
        """Export requests as CSV or NDJSON

        Every request matching the filters (the request list's, plus `user_id` and
        `api_key_id`), no limit, newest first (`order=asc`: oldest first), streamed
        from one snapshot. One row per request, flat: its columns, its model's
        identifier and name and its provider's id, slug and name (empty/null without
        a model); `cost_usd` is the exact decimal, never rounded; `created_at` is
        ISO 8601 in UTC with microseconds. NULL is an empty CSV field or JSON null.
        """
        fmt = args["format"]
        filters = {key: value for key, value in args.items() if key not in ("format", "order")}
        config = current_app.config
        body, mimetype = EXPORTS[fmt]
        response = _streamed(lambda conn: open_export(
            conn, filters, args["order"] == "desc", fmt, config["STREAM_CHUNK_ROWS"],
            config["EXPORT_STATEMENT_TIMEOUT_MS"]), body, args, mimetype)
        stamp = datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        response.headers["Content-Disposition"] = f'attachment; filename="chat-requests-{stamp}.{fmt}"'
        return response
