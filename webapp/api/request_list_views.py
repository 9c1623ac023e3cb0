"""Request rows, streamed so that a 100,000-row page (or a plot of millions of requests)
needs no more memory than 100 rows: the request list and the plot feed."""
import json
from contextlib import ExitStack
from datetime import datetime, timezone

from flask import Response, current_app
from flask.views import MethodView

from .. import db
from ..queries.request_list_queries import PLOT_SERIES, open_page, open_plot
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


def _streamed(open_rows, body, args):
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
    response = Response(body(rows, args, done), mimetype="application/json")
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
