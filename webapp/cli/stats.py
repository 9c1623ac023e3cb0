"""`chatstats stats timeseries|breakdown`: the analytics endpoints' numbers in a terminal,
as a table or (--json) as the API's items."""
import json
from datetime import datetime, timezone
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import click

from ..api import analytics_schemas
from ..queries import analytics as queries


class _Instant(click.ParamType):
    name = "ISO-8601"

    def convert(self, value, param, ctx):
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            self.fail(f"{value!r} is not an ISO 8601 date-time", param, ctx)
        return at if at.tzinfo else at.replace(tzinfo=timezone.utc)


class _Zone(click.ParamType):
    name = "IANA-zone"

    def convert(self, value, param, ctx):
        try:
            return ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            self.fail(f"unknown time zone {value!r}", param, ctx)


def _filters(function):
    """The range and filter options every command takes."""
    options = [
        click.option("--start", type=_Instant(), help="Inclusive start (no zone: UTC)."),
        click.option("--end", type=_Instant(), help="Exclusive end (no zone: UTC)."),
        click.option("--provider-id", type=click.IntRange(min=1)),
        click.option("--model-id", type=click.IntRange(min=1)),
        click.option("--api-key-id", type=click.IntRange(min=1)),
        click.option("--user-id", type=click.IntRange(min=1)),
        click.option("--status", type=click.Choice(["completed", "failed", "partial"])),
        click.option("--json", "as_json", is_flag=True, help="JSON items, as the API answers."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


_COLUMNS = [("total_requests", "requests"), ("failed_requests", "failed"), ("total_tokens", "tokens"),
            ("total_cost_usd", "cost_usd"), ("avg_processing_time_ms", "avg_ms"),
            ("p50_processing_time_ms", "p50_ms"), ("p95_processing_time_ms", "p95_ms"),
            ("p99_processing_time_ms", "p99_ms")]


def _print(items, first):
    """items (dumped by the API's schemas) as a table whose first columns are `first`."""
    columns = [*first, *_COLUMNS]
    table = [[title for _, title in columns]]
    table += [["" if item.get(key) is None else str(item[key]) for key, _ in columns] for item in items]
    widths = [max(len(row[i]) for row in table) for i in range(len(columns))]
    for row in table:
        click.echo("  ".join(cell.ljust(w) if i < len(first) else cell.rjust(w)
                             for i, (cell, w) in enumerate(zip(row, widths))).rstrip())


stats_group = click.Group("stats", help="Request statistics over time and by group (the analytics API).")


@stats_group.command("timeseries")
@click.option("--bucket", type=click.Choice(queries.BUCKETS), default="day", show_default=True)
@click.option("--tz", type=_Zone(), default="UTC", show_default=True, help="IANA time zone of the buckets.")
@_filters
@click.pass_obj
def timeseries_command(settings, bucket, tz, start, end, as_json, **filters):
    """One line per bucket of the zone's local calendar, oldest first."""
    if start and end and start > end:
        raise click.BadParameter("must not be after --end", param_hint="--start")
    with settings.connect() as conn:
        try:
            points, _ = queries.timeseries(conn, bucket, tz, start, end, filters)
        except queries.BucketError as error:
            raise click.BadParameter(str(error), param_hint="--bucket")
    items = analytics_schemas.Point(many=True).dump(points)
    if as_json:
        click.echo(json.dumps(items, indent=2))
    else:
        _print(items, [("bucket_start", "bucket_start")])


@stats_group.command("breakdown")
@click.option("--by", type=click.Choice(queries.GROUPINGS), required=True)
@click.option("--top", type=click.IntRange(1, 1000), default=20, show_default=True)
@click.option("--order", type=click.Choice(queries.ORDERS), default="requests", show_default=True)
@_filters
@click.pass_obj
def breakdown_command(settings, by, top, order, start, end, as_json, **filters):
    """The first --top groups, then every other group together and the total."""
    if start and end and start > end:
        raise click.BadParameter("must not be after --end", param_hint="--start")
    with settings.connect() as conn:
        rows, _ = queries.breakdown(conn, by, top, order, start, end, filters)
    items = analytics_schemas.Group(many=True).dump(rows)
    for item, row in zip(items, rows):
        item["kind"] = row["kind"]
    if as_json:
        click.echo(json.dumps(items, indent=2))
    else:
        _print(items, [("kind", "kind"), ("id", "id"), ("name", "name")])
