// The chatstats dashboard. Everything it shows comes from the public JSON API, with the
// key the user gave (kept in sessionStorage only). The view (range, zone, filters,
// refresh) lives in the query string, so that a URL reproduces it.
"use strict";

const API = "/api/monitoring/chat-requests";
const KEY_STORE = "chatstats.apiKey";
const RANGES = {"1h": 3600e3, "24h": 24 * 3600e3, "7d": 7 * 24 * 3600e3,
                "30d": 30 * 24 * 3600e3, "90d": 90 * 24 * 3600e3};
const STATUS_COLORS = {completed: "#2f7d32", partial: "#b26a00", failed: "#c62828", other: "#757575"};
// The finest bucket that keeps a series within MAX_BUCKETS points (the API allows 1,000).
const BUCKETS = [["minute", 60e3], ["hour", 3600e3], ["day", 24 * 3600e3], ["week", 7 * 24 * 3600e3],
                 ["month", 31 * 24 * 3600e3]];
const MAX_BUCKETS = 500;
const TOP = 10;
// Each load marks these when drawn (performance.mark("panel:NAME")); the browser tests count them.
const PANELS = ["totals", "chart-requests", "chart-tokens", "chart-cost", "chart-latency",
                "keys", "users", "providers", "models", "recent"];
const $ = (id) => document.getElementById(id);

const integer = new Intl.NumberFormat(undefined, {maximumFractionDigits: 0});
const decimal = new Intl.NumberFormat(undefined, {maximumFractionDigits: 1});
const percent = new Intl.NumberFormat(undefined, {style: "percent", maximumFractionDigits: 2});
const usd = new Intl.NumberFormat(undefined, {style: "currency", currency: "USD",
                                              minimumFractionDigits: 2, maximumFractionDigits: 4});

class KeyNeeded extends Error {}

// -- the view in the query string ------------------------------------------------------

const BROWSER_ZONE = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

function readView() {
  const q = new URLSearchParams(location.search);
  const range = q.get("range") in RANGES || q.get("range") === "custom" ? q.get("range") : "24h";
  return {range, start: q.get("start") || "", end: q.get("end") || "",
          tz: validZone(q.get("tz")) ? q.get("tz") : BROWSER_ZONE,
          provider: q.get("provider") || "", model: q.get("model") || "",
          apiKey: /^[1-9][0-9]{0,17}$/.test(q.get("api_key_id")) ? q.get("api_key_id") : "",
          refresh: ["10", "60"].includes(q.get("refresh")) ? q.get("refresh") : "0"};
}

function writeView(view) {
  const q = new URLSearchParams();
  q.set("range", view.range);
  if (view.range === "custom") {
    if (view.start) q.set("start", view.start);
    if (view.end) q.set("end", view.end);
  }
  q.set("tz", view.tz);
  for (const name of ["provider", "model"]) if (view[name]) q.set(name, view[name]);
  if (view.apiKey) q.set("api_key_id", view.apiKey);
  if (view.refresh !== "0") q.set("refresh", view.refresh);
  history.pushState(null, "", "?" + q);
}

function validZone(zone) {
  if (!zone) return false;
  try { new Intl.DateTimeFormat("en", {timeZone: zone}); return true; } catch { return false; }
}

// -- time in the chosen zone ---------------------------------------------------------------

function wallParts(date, zone) {
  const parts = new Intl.DateTimeFormat("en-US", {
    timeZone: zone, hourCycle: "h23", year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit"}).formatToParts(date);
  return Object.fromEntries(parts.map((p) => [p.type, p.value]));
}

/** "YYYY-MM-DD HH:MM:SS" as a clock in `zone` shows the instant. */
function wallTime(date, zone) {
  const p = wallParts(date, zone);
  return `${p.year}-${p.month}-${p.day} ${p.hour}:${p.minute}:${p.second}`;
}

function offsetMs(date, zone) {
  const p = wallParts(date, zone);
  return Date.UTC(p.year, p.month - 1, p.day, p.hour, p.minute, p.second) -
    Math.floor(date.getTime() / 1000) * 1000;
}

/** The instant a datetime-local value ("2026-11-01T08:30") names in `zone`. */
function instantOf(wall, zone) {
  const [y, mo, d, h, mi] = wall.split(/[-T:]/).map(Number);
  const guess = Date.UTC(y, mo - 1, d, h, mi);
  const first = guess - offsetMs(new Date(guess), zone);
  return new Date(guess - offsetMs(new Date(first), zone));
}

function rangeOf(view, now) {
  if (view.range !== "custom") return {start: new Date(now - RANGES[view.range]), end: new Date(now)};
  return {start: view.start ? instantOf(view.start, view.tz) : null,
          end: view.end ? instantOf(view.end, view.tz) : null};
}

/** The bucket of the time series: the finest that keeps it within MAX_BUCKETS points. */
function bucketOf(start, end, now) {
  if (!start) return "month";  // from the first request: its span is unknown
  const span = (end || new Date(now)) - start;
  const found = BUCKETS.find(([, size]) => Math.ceil(span / size) + 1 <= MAX_BUCKETS);
  return found ? found[0] : "month";
}

// -- the API -------------------------------------------------------------------------------

async function api(path, params = {}) {
  const url = new URL(path, location.origin);
  for (const [name, value] of Object.entries(params)) {
    if (value !== null && value !== undefined && value !== "") url.searchParams.set(name, value);
  }
  const headers = {Accept: "application/json"};
  const key = sessionStorage.getItem(KEY_STORE);
  if (key) headers.Authorization = `Bearer ${key}`;
  const response = await fetch(url, {headers, cache: "no-store"});
  const body = await response.json().catch(() => null);
  if (response.status === 401) {
    throw new KeyNeeded(key ? "The API refused this key: it is wrong or revoked. Enter another."
                            : (body && body.message) || "The API needs a key.");
  }
  if (!response.ok) throw new Error((body && body.message) || `${response.status} ${response.statusText}`);
  return body;
}

// -- numbers -------------------------------------------------------------------------------

/** Costs are exact decimal strings: sum them in millionths of a dollar. */
function micros(text) {
  const [whole, fraction = ""] = String(text || "0").split(".");
  const sign = whole.startsWith("-") ? -1n : 1n;
  return BigInt(whole) * 1000000n + sign * BigInt((fraction + "000000").slice(0, 6));
}

function dollars(value) {
  const sign = value < 0n ? "-" : "";
  const abs = value < 0n ? -value : value;
  return `${sign}${abs / 1000000n}.${String(abs % 1000000n).padStart(6, "0")}`;
}

const ms = (value) => (value === null || value === undefined ? "—" : `${decimal.format(value)} ms`);

/** Sums over models (a provider, or the whole page). */
function sumModels(models) {
  const total = {requests: 0, completed: 0, failed: 0, partial: 0, input: 0, output: 0, tokens: 0,
                 timeWeighted: 0, cost: 0n};
  for (const {stats} of models) {
    total.requests += stats.total_requests;
    total.completed += stats.completed_requests;
    total.failed += stats.failed_requests;
    total.partial += stats.partial_requests;
    total.input += stats.total_input_tokens;
    total.output += stats.total_output_tokens;
    total.tokens += stats.total_tokens;
    total.timeWeighted += (stats.avg_processing_time_ms || 0) * stats.total_requests;
    total.cost += micros(stats.total_cost_usd);
  }
  total.successRate = total.requests ? total.completed / total.requests : null;
  total.avgMs = total.requests ? total.timeWeighted / total.requests : null;
  return total;
}

// -- request rows: today's `model`/`provider`, or upstream's nested `models` -----------------

function rowModel(row) {
  if ("models" in row) {
    const m = row.models;
    return m && {name: m.model_name, provider: m.providers && m.providers.name};
  }
  return row.model && {name: row.model.model_name, provider: row.provider && row.provider.name};
}

// A model of the statistics: one that left the catalog has only its id.
function modelName(m) {
  return m.model_name ?? `model ${m.model_id} (not in the catalog)`;
}

// -- rendering -----------------------------------------------------------------------------

function cell(tag, text, attrs = {}) {
  const element = document.createElement(tag);
  element.textContent = text;
  for (const [name, value] of Object.entries(attrs)) element.setAttribute(name, value);
  return element;
}

const sorting = {};

/** A table with sortable headers; `pick(row)` selects a row (a button in its first cell). */
function renderTable(table, columns, rows, {selected, pick, footer = []} = {}) {
  const id = table.id;
  const sort = sorting[id] || (sorting[id] = {column: 1, descending: true});
  const column = columns[sort.column];
  const sorted = [...rows].sort((a, b) => {
    const x = column.value(a), y = column.value(b);
    const order = typeof x === "string" ? x.localeCompare(y) : (x ?? -1) - (y ?? -1);
    return sort.descending ? -order : order;
  });
  const caption = table.querySelector("caption");
  table.replaceChildren(...(caption ? [caption] : []));
  const headRow = table.createTHead().insertRow();
  columns.forEach((col, index) => {
    const th = cell("th", "", {scope: "col"});
    if (col.numeric) th.className = "num";
    if (index === sort.column) th.setAttribute("aria-sort", sort.descending ? "descending" : "ascending");
    const button = cell("button", col.label, {type: "button", class: "sort"});
    button.addEventListener("click", () => {
      sorting[id] = {column: index, descending: index === sort.column ? !sort.descending : col.numeric};
      renderTable(table, columns, rows, {selected, pick, footer});
    });
    th.append(button);
    headRow.append(th);
  });
  const body = table.createTBody();
  const foot = footer.length ? table.createTFoot() : null;
  for (const [row, section] of [...sorted.map((r) => [r, body]), ...footer.map((r) => [r, foot])]) {
    const tr = section.insertRow();
    columns.forEach((col, index) => {
      const td = cell(index ? "td" : "th", "", index ? {} : {scope: "row"});
      const shown = col.format ? col.format(row) : col.value(row);
      if (index === 0 && pick && section === body) {
        const button = cell("button", shown, {type: "button", class: "pick", "aria-pressed": String(selected === row)});
        button.addEventListener("click", () => pick(row));
        td.append(button);
      } else {
        td.textContent = shown;
      }
      if (col.numeric) { td.className = "num"; td.dataset.value = col.raw ? col.raw(row) : col.value(row) ?? ""; }
      if (col.cls) td.className += " " + col.cls(row);
      tr.append(td);
    });
    if (selected === row) tr.className = "selected";
  }
  if (!sorted.length) {
    const td = body.insertRow().insertCell();
    td.colSpan = columns.length;
    td.textContent = "No requests in this range.";
  }
}

function statsColumns(get) {
  return [
    {label: "Requests", numeric: true, value: (r) => get(r).requests, format: (r) => integer.format(get(r).requests)},
    {label: "Success rate", numeric: true, value: (r) => get(r).successRate,
     format: (r) => (get(r).successRate === null ? "—" : percent.format(get(r).successRate))},
    {label: "Failed", numeric: true, value: (r) => get(r).failed, format: (r) => integer.format(get(r).failed)},
    {label: "Avg latency", numeric: true, value: (r) => get(r).avgMs, format: (r) => ms(get(r).avgMs)},
  ];
}

const tokenColumns = (get) => [
  {label: "Tokens", numeric: true, value: (r) => get(r).tokens, format: (r) => integer.format(get(r).tokens)},
  {label: "Cost", numeric: true, value: (r) => Number(get(r).cost) / 1e6, raw: (r) => dollars(get(r).cost),
   format: (r) => usd.format(dollars(get(r).cost))},
];

function modelTotals(model) {
  return sumModels([model]);
}

function renderTotals(totals, p95, unattributed) {
  const items = [
    ["Requests", integer.format(totals.requests), totals.requests],
    ["Success rate", totals.successRate === null ? "—" : percent.format(totals.successRate), totals.successRate ?? ""],
    ["Tokens", integer.format(totals.tokens), totals.tokens],
    ["Cost", usd.format(dollars(totals.cost)), dollars(totals.cost)],
    ["p95 latency", p95.text, p95.value ?? ""],
    ["Unattributed requests", unattributed === null ? "—" : integer.format(unattributed), unattributed ?? ""],
  ];
  $("totals").replaceChildren(...items.map(([label, text, value]) => {
    const div = document.createElement("div");
    div.append(cell("dt", label), cell("dd", text, {"data-value": value}));
    return div;
  }));
}

// BokehJS loads in parallel with the API calls (its scripts run after this one): the tables
// need not wait for it.
const bokeh = new Promise((resolve) => $("bokeh-api-js").addEventListener("load", () => {
  Bokeh.set_log_level("warn");
  resolve(window.Bokeh);
}));

/** Each chart's series (name, the API's field, colour), drawn as stacked bars or as lines; the
 *  y axis's tick format (numbro's) and how the hover shows a value. */
const CHARTS = {
  requests: {bars: true, ticks: "0,0", show: integer.format,
             series: ["completed", "partial", "failed", "other"].map((s) => [s, `${s}_requests`, STATUS_COLORS[s]])},
  tokens: {bars: true, ticks: "0.[0]a", show: integer.format,
           series: [["input", "total_input_tokens", "#0b57d0"], ["output", "total_output_tokens", "#7baaf7"]]},
  cost: {bars: true, ticks: "$0,0.[00]", show: (value) => usd.format(value),
         series: [["cost", "total_cost_usd", "#6a1b9a"]]},
  latency: {bars: false, ticks: "0,0", yLabel: "ms", show: ms,
            series: [["p50", "p50_processing_time_ms", "#2f7d32"], ["p95", "p95_processing_time_ms", "#b26a00"],
                     ["p99", "p99_processing_time_ms", "#c62828"]]},
};
const charts = {};  // name: {figure, source, glyphs, view (a promise)}, made by the first load

/** A series point's bucket as the zone's wall clock shows it ("2026-11-23T18:00:00"). */
const wall = (point) => point.bucket_start.slice(0, 19);

/** A chart's columns: x is the wall clock read as UTC, which BokehJS's datetime axis (always
 *  UTC) then shows as it is; a column per series, NaN where there is no value; and the hover's
 *  texts, formatted as the tables are. */
function chartData(points, {series, show}) {
  const data = {x: points.map((p) => Date.parse(`${wall(p)}Z`)),
                time: points.map((p) => wall(p).slice(0, 16).replace("T", " "))};
  for (const [name, field] of series) {
    data[name] = points.map((p) => (p[field] === null ? NaN : Number(p[field])));
    data[`${name}_text`] = points.map((p) => (p[field] === null ? "—" : show(p[field])));
  }
  return data;
}

/** A chart's figure, not shown yet: its source gets the data of each load. A legend entry
 *  mutes its series when clicked (hiding one would leave the bars above it floating). */
function newChart(Bokeh, name) {
  const {bars, ticks, yLabel, series} = CHARTS[name];
  const source = new Bokeh.ColumnDataSource({data: {}});
  const figure = Bokeh.Plotting.figure({
    name: `chart-${name}`, height: 260, sizing_mode: "stretch_width", tools: "", toolbar_location: null,
    x_axis_type: "datetime", x_range: new Bokeh.Range1d(), y_range: new Bokeh.DataRange1d({start: 0}),
    y_axis_label: yLabel || null, outline_line_color: null, min_border_left: 8, min_border_right: 8});
  figure.xaxis.formatter = new Bokeh.DatetimeTickFormatter({
    minutes: "%H:%M", hourmin: "%H:%M", hours: "%H:%M", days: "%b %d", months: "%b %Y"});
  figure.xaxis.major_label_policy = new Bokeh.NoOverlap();  // fewer labels on a phone
  figure.yaxis.formatter = new Bokeh.NumeralTickFormatter({format: ticks});
  const x = {field: "x"};
  const drawn = series.map(([label, , color], index) => {
    if (!bars) {
      return [figure.line({x, y: {field: label}, source, name: label, line_color: color, line_width: 2}),
              figure.scatter({x, y: {field: label}, source, size: 4, color})];
    }
    const stacked = series.slice(0, index + 1).map(([below]) => below);
    return [figure.vbar({x, source, name: label, color, width: 1,
                         top: {expr: new Bokeh.Stack({fields: stacked})},
                         bottom: index ? {expr: new Bokeh.Stack({fields: stacked.slice(0, -1)})} : 0})];
  });
  figure.add_tools(new Bokeh.HoverTool({renderers: [drawn[0][0]], mode: "vline", tooltips: [
    ["time", "@time"], ...series.map(([label]) => [label, `@${label}_text`])]}));
  figure.add_layout(new Bokeh.Legend({
    items: series.map(([label], index) => new Bokeh.LegendItem({label: {value: label}, renderers: drawn[index]})),
    orientation: "horizontal", location: "top_left", click_policy: "mute", padding: 0, margin: 0,
    border_line_color: null, background_fill_alpha: 0}), "above");
  return {figure, source, glyphs: drawn.map(([renderer]) => renderer.glyph)};
}

/** Draws the series in a chart (made on first use, then updated in place) and marks it once
 *  BokehJS has painted it. Every chart shows the first bucket to the last, half a bucket
 *  around. */
async function drawChart(Bokeh, name, points, {bucket, zone}) {
  const chart = charts[name] || (charts[name] = newChart(Bokeh, name));
  const size = BUCKETS.find(([known]) => known === bucket)[1];
  chart.source.data = chartData(points, CHARTS[name]);
  if (points.length) {
    const xs = chart.source.data.x;
    chart.figure.x_range.setv({start: xs[0] - size / 2, end: xs[xs.length - 1] + size / 2});
  }
  if (CHARTS[name].bars) for (const glyph of chart.glyphs) glyph.width = size * 0.8;
  chart.figure.xaxis.axis_label = zone;
  chart.view = chart.view || Bokeh.Plotting.show(chart.figure, $(`chart-${name}`)).then((view) => {
    // The canvas takes keyboard focus for tools this chart does not have: no tab stop for it.
    view.canvas_view.events_el.tabIndex = -1;
    return view;
  });
  await (await chart.view).ready;
  marked(`chart-${name}`);
}

function renderSeries(series, zone) {
  const options = {bucket: series.metadata.filters.bucket, zone};
  return Object.keys(CHARTS).map((name) => bokeh.then((Bokeh) => drawChart(Bokeh, name, series.data, options)));
}

/** The top API keys or users, then the others and the total (a tfoot). */
function renderTop(table, breakdown, label, {selected, pick} = {}) {
  const rows = breakdown.data.map((group) => ({...group, sums: sumModels([{stats: group}])}));
  const footer = [{id: "others", label: "Others", sums: sumModels([{stats: breakdown.others}]), stats: breakdown.others},
                  {id: "total", label: "Total", sums: sumModels([{stats: breakdown.total}]), stats: breakdown.total}];
  const name = (r) => r.label || (r.id === null ? `— (no ${label.toLowerCase()})` : `${label} ${r.id}`);
  if (!sorting[table.id]) sorting[table.id] = {column: 1, descending: true};
  renderTable(table, [
    {label, value: name},
    ...statsColumns((r) => r.sums).slice(0, 2),
    {label: "p95 latency", numeric: true, value: (r) => (r.stats || r).p95_processing_time_ms,
     format: (r) => ms((r.stats || r).p95_processing_time_ms)},
    ...tokenColumns((r) => r.sums),
  ], rows, {footer, selected: selected && rows.find(selected), pick});
}

function renderRecent(rows, zone) {
  const time = new Intl.DateTimeFormat(undefined, {timeZone: zone, dateStyle: "short", timeStyle: "medium"});
  const columns = [
    {label: "Time", value: (r) => r.created_at, format: (r) => time.format(new Date(r.created_at))},
    {label: "Model", value: (r) => (rowModel(r) || {name: "— (no model)"}).name},
    {label: "Provider", value: (r) => (rowModel(r) || {}).provider || "—"},
    {label: "Status", value: (r) => r.status, format: (r) => (r.status === "failed" ? "✖ failed" : r.status),
     cls: (r) => (r.status === "failed" ? "failed" : "")},
    {label: "Tokens", numeric: true, value: (r) => r.total_tokens, format: (r) => integer.format(r.total_tokens)},
    {label: "Latency", numeric: true, value: (r) => r.processing_time_ms, format: (r) => ms(r.processing_time_ms)},
    {label: "Cost", numeric: true, value: (r) => (r.cost_usd === null ? null : Number(r.cost_usd)),
     raw: (r) => r.cost_usd ?? "", format: (r) => (r.cost_usd === null ? "—" : usd.format(r.cost_usd))},
  ];
  if (!sorting["recent-table"]) sorting["recent-table"] = {column: 0, descending: true};
  renderTable($("recent-table"), columns, rows);
  for (const [index, row] of rows.entries()) {
    if (row.status === "failed" && row.error_message) {
      $("recent-table").tBodies[0].rows[index].title = row.error_message;
    }
  }
}

// -- one load of every panel ---------------------------------------------------------------

let view = readView();
let loadedAt = null;
let loads = 0;
let lag = "";
let refreshTimer = null;

function fillSelect(select, options, value) {
  const keep = select.options[0];
  select.replaceChildren(keep, ...options.map(([id, label]) => new Option(label, id, false, String(id) === value)));
  select.value = value;
}

/** Every load marks when each panel is drawn; the browser tests read the first marks. */
function marked(name) {
  performance.mark(`panel:${name}`);
}

async function load() {
  const now = Date.now();
  const {start, end} = rangeOf(view, now);
  const range = {start_date: start && start.toISOString(), end_date: end && end.toISOString()};
  const filters = {provider_id: view.provider, model_id: view.model};
  const analytics = {...range, ...filters, api_key_id: view.apiKey};
  const bucket = bucketOf(start, end, now);
  // Every call starts at once; each panel is drawn as soon as the answers it needs are in,
  // so that a slow one (a breakdown over a long range) holds back only its own panel.
  const providers = api(`${API}/providers`, range);
  const catalog = Promise.all([providers, api(`${API}/models`, range),
                               view.model ? api(`${API}/models/${view.model}`, range) : null]);
  const keys = api(`${API}/breakdown`, {...analytics, by: "api_key", top: TOP});
  const generation = ++loads;
  const shown = (promise, draw) => promise.then((answer) => {
    if (generation !== loads) return null;  // a newer load has started: its answers are drawn
    $("key-panel").hidden = true;
    $("panels").hidden = false;
    return draw(answer);
  });
  try {
    const [ready] = await Promise.all([
      api("/ready").catch(() => null),
      shown(catalog, renderCatalog),
      shown(Promise.all([keys, providers]), renderKeys),
      shown(api(`${API}/breakdown`, {...analytics, by: "user", top: TOP}), renderUsers),
      shown(api(API, {...range, ...filters, limit: 50}), (recent) => {
        renderRecent(recent.data, view.tz);
        marked("recent");
      }),
      shown(api(`${API}/timeseries`, {...analytics, bucket, tz: view.tz}), (series) => {
        $("series-bucket").textContent = `(per ${series.metadata.filters.bucket}, ${view.tz})`;
        return Promise.all(renderSeries(series, view.tz));
      }),
    ]);
    $("error").hidden = true;
    const rollup = ready && ready.rollup;
    const standby = ready && ready.replica_lag_seconds;  // null when the primary answers
    lag = (rollup ? `Rollup lag: ${integer.format(rollup.lag_rows)} rows, ${decimal.format(rollup.lag_seconds)} s.` : "")
      + (standby != null ? ` Standby lag: ${decimal.format(standby)} s.` : "");
    loadedAt = Date.now();
    tick();
  } catch (error) {
    if (error instanceof KeyNeeded) {
      sessionStorage.removeItem(KEY_STORE);
      $("key-message").textContent = error.message;
      $("key-panel").hidden = false;
      $("panels").hidden = true;
      $("key").focus();
    } else {
      $("error").textContent = `Could not load the statistics: ${error.message}`;
      $("error").hidden = false;
    }
  }
  const format = new Intl.DateTimeFormat(undefined, {timeZone: view.tz, dateStyle: "medium", timeStyle: "short"});
  $("showing").textContent = `${start ? format.format(start) : "the first request"} – ` +
    `${end ? format.format(end) : "now"} (${view.tz}).`;
}

/** The provider and model selects and tables. */
function renderCatalog([providers, models, one]) {
  const byProvider = new Map();
  for (const model of models.data) {
    const list = byProvider.get(model.provider.id) || [];
    list.push(model);
    byProvider.set(model.provider.id, list);
  }
  const shownModels = view.provider
    ? models.data.filter((m) => String(m.provider.id) === view.provider) : models.data;

  fillSelect($("provider"), providers.data.map((p) => [p.provider_id, p.name]), view.provider);
  const modelOptions = shownModels.map((m) => [m.model_id, modelName(m)]);
  if (one && !shownModels.some((m) => m.model_id === one.data.model_id)) {
    modelOptions.push([one.data.model_id, modelName(one.data)]);  // selected, no requests in range
  }
  fillSelect($("model"), modelOptions, view.model);
  for (const note of document.querySelectorAll(".unkeyed")) {
    note.textContent = view.apiKey ? `Not filtered by API key ${view.apiKey}: this endpoint takes no key filter.` : "";
  }

  const providerRows = providers.data.map((p) => ({...p, sums: sumModels(byProvider.get(p.provider_id) || [])}));
  renderTable($("providers-table"), [
    {label: "Provider", value: (r) => r.name},
    {...statsColumns((r) => r.sums)[0], value: (r) => r.total_requests, format: (r) => integer.format(r.total_requests)},
    ...statsColumns((r) => r.sums).slice(1),
    {label: "Models", numeric: true, value: (r) => r.models_with_requests, format: (r) => integer.format(r.models_with_requests)},
    ...tokenColumns((r) => r.sums),
  ], providerRows, {
    selected: providerRows.find((r) => String(r.provider_id) === view.provider),
    pick: (r) => change({provider: String(r.provider_id) === view.provider ? "" : String(r.provider_id), model: ""}),
  });
  marked("providers");

  const modelRows = shownModels.map((m) => ({...m, sums: modelTotals(m)}));
  renderTable($("models-table"), [
    {label: "Model", value: (r) => modelName(r)},
    ...statsColumns((r) => r.sums),
    {label: "p95 latency", numeric: true, value: (r) => r.stats.p95_processing_time_ms,
     format: (r) => ms(r.stats.p95_processing_time_ms)},
    ...tokenColumns((r) => r.sums),
    {label: "Provider", value: (r) => r.provider.name ?? "—"},
  ], modelRows, {
    selected: modelRows.find((r) => String(r.model_id) === view.model),
    pick: (r) => change({model: String(r.model_id) === view.model ? "" : String(r.model_id)}),
  });
  marked("models");

}

/** The totals (the breakdown's total: every request the page's filters match) and the top keys. */
function renderKeys([keys, providers]) {
  $("key-ids").replaceChildren(...keys.data.filter((k) => k.id !== null).map((k) => new Option(String(k.id))));
  const p95 = keys.total.p95_processing_time_ms;
  renderTotals(sumModels([{stats: keys.total}]), {value: p95, text: ms(p95)},
               view.provider || view.model || view.apiKey ? null : providers.metadata.unattributed_requests);
  marked("totals");
  renderTop($("keys-table"), keys, "Key", {
    selected: (r) => String(r.id) === view.apiKey,
    pick: (r) => change({apiKey: r.id === null || String(r.id) === view.apiKey ? "" : String(r.id)}),
  });
  marked("keys");
}

function renderUsers(users) {
  renderTop($("users-table"), users, "User");
  marked("users");
}

function tick() {
  if (loadedAt === null) return;
  const seconds = Math.round((Date.now() - loadedAt) / 1000);
  $("updated").textContent = `Updated ${integer.format(seconds)} s ago.`;
  $("lag").textContent = lag;
}

// -- controls ------------------------------------------------------------------------------

function showControls() {
  $("range").value = view.range;
  for (const label of document.querySelectorAll(".custom")) label.hidden = view.range !== "custom";
  $("start").value = view.start;
  $("end").value = view.end;
  $("tz").value = view.tz;
  $("api-key-id").value = view.apiKey;
  $("refresh").value = view.refresh;
  clearInterval(refreshTimer);
  refreshTimer = view.refresh === "0" ? null : setInterval(load, Number(view.refresh) * 1000);
}

function change(changes) {
  view = {...view, ...changes};
  writeView(view);
  showControls();
  load();
}

function local(date, zone) {
  return wallTime(date, zone).replace(" ", "T").slice(0, 16);
}

function wire() {
  const zones = ["UTC", ...(Intl.supportedValuesOf ? Intl.supportedValuesOf("timeZone") : [])];
  $("zones").replaceChildren(...zones.map((zone) => new Option(zone)));
  $("controls").addEventListener("submit", (event) => event.preventDefault());
  $("range").addEventListener("change", () => {
    const range = $("range").value;
    if (range !== "custom") return change({range});
    const {start, end} = rangeOf(view, Date.now());
    change({range, start: start ? local(start, view.tz) : "", end: end ? local(end, view.tz) : ""});
  });
  for (const id of ["start", "end"]) $(id).addEventListener("change", () => change({[id]: $(id).value}));
  $("tz").addEventListener("change", () => {
    const tz = $("tz").value.trim();
    if (!validZone(tz)) {
      $("error").textContent = `Unknown time zone “${tz}”: pick an IANA zone such as Europe/Berlin.`;
      $("error").hidden = false;
      return;
    }
    change({tz});
  });
  $("provider").addEventListener("change", () => change({provider: $("provider").value, model: ""}));
  $("model").addEventListener("change", () => change({model: $("model").value}));
  $("api-key-id").addEventListener("change", () => {
    const id = $("api-key-id").value.trim();
    if (id && !/^[1-9][0-9]{0,17}$/.test(id)) {
      $("error").textContent = `“${id}” is not an API key id: give a whole number such as 7, or nothing for all keys.`;
      $("error").hidden = false;
      return;
    }
    change({apiKey: id});
  });
  $("refresh").addEventListener("change", () => change({refresh: $("refresh").value}));
  $("key-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(KEY_STORE, $("key").value.trim());
    $("key").value = "";
    load();
  });
  window.addEventListener("popstate", () => { view = readView(); showControls(); load(); });
  setInterval(tick, 1000);
}

wire();
showControls();
load();
