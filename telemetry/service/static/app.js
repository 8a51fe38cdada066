// The dashboard: reads the service's API with the tab's token (sessionStorage, sent as an
// Authorization header, never in a URL) and writes every value from agents with
// textContent, never as markup.
"use strict";

const TOKEN_KEY = "telemetry.token";
const PAGE_SIZE = 25;
const REFRESH_MS = 5000;
const STATUSES = new Set(["success", "failure", "partial", "timeout", "cancelled", "running"]);
const SPANS = {"1h": 3600e3, "24h": 86400e3, "7d": 7 * 86400e3, "30d": 30 * 86400e3};
const ALL_TIME_CHART_MS = 90 * 86400e3;
const $ = (id) => document.getElementById(id);
const state = {page: 0, hasMore: false, selected: null, loading: false};

class AuthRequired extends Error {}

// --- small DOM helpers: text only ------------------------------------------------------
function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined && text !== null) node.textContent = String(text);
  return node;
}
function cell(text, className) { return el("td", className, text === null || text === undefined ? "–" : text); }
function statusPill(status) {
  return el("span", "pill status-" + (STATUSES.has(status) ? status : "other"), status || "–");
}
function duration(ms) {
  if (typeof ms !== "number") return "–";
  if (ms < 1000) return `${Math.round(ms)} ms`;
  const s = ms / 1000;
  if (s < 60) return `${s.toFixed(1)} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m ${String(Math.floor(s % 60)).padStart(2, "0")}s`;
  return `${Math.floor(m / 60)}h ${String(m % 60).padStart(2, "0")}m`;
}
function when(stamp) {
  if (!stamp) return "–";
  const t = new Date(stamp);
  return isNaN(t) ? String(stamp) : t.toLocaleString(undefined, {month: "short", day: "numeric", hour: "2-digit", minute: "2-digit", second: "2-digit"});
}
function percent(rate) { return typeof rate === "number" ? `${(rate * 100).toFixed(1)}%` : "–"; }

// --- API ----------------------------------------------------------------------------------
async function api(path, params) {
  const query = new URLSearchParams();
  for (const [name, value] of Object.entries(params || {})) if (value !== "" && value !== null && value !== undefined) query.set(name, value);
  const token = sessionStorage.getItem(TOKEN_KEY);
  const response = await fetch(path + (query.toString() ? "?" + query : ""), {
    headers: token ? {Authorization: "Bearer " + token} : {}, cache: "no-store",
  });
  if (response.status === 401) throw new AuthRequired();
  if (!response.ok) throw new Error(`${path}: HTTP ${response.status}`);
  return response.json();
}
function sinceStamp() {
  const span = SPANS[$("f-since").value];
  return span ? new Date(Date.now() - span).toISOString() : "";
}

// --- views ----------------------------------------------------------------------------------
function renderTiles(metrics, agents, range) {
  const runs = agents.reduce((n, a) => n + a.runs, 0);
  const ended = agents.reduce((n, a) => n + a.successes + a.failures, 0);
  const ok = agents.reduce((n, a) => n + a.successes, 0);
  const running = agents.reduce((n, a) => n + a.running, 0);
  const tiles = [[`Runs, ${range}`, runs], ["Started in the last 24 h", metrics.recent_24h],
    ["Success rate", ended ? percent(ok / ended) : "–"], ["Running", running], ["Agents", agents.length]];
  $("tiles").replaceChildren(...tiles.map(([label, value]) => {
    const tile = el("div", "tile");
    tile.append(el("div", "tile-value", value), el("div", "tile-label", label));
    return tile;
  }));
}

function renderAgents(agents) {
  $("agents").tBodies[0].replaceChildren(...agents.map((a) => {
    const row = el("tr");
    const bar = el("td", "rate");
    const meter = el("span", "meter");
    const fill = el("span", "meter-fill");
    fill.style.width = typeof a.success_rate === "number" ? `${(a.success_rate * 100).toFixed(1)}%` : "0";
    meter.append(fill);
    bar.append(meter, el("span", "rate-text", percent(a.success_rate)));
    row.append(cell(a.agent_name, "agent"), cell(a.runs, "num"), bar, cell(a.failures, a.failures ? "num bad" : "num"),
      cell(duration(a.p50_ms), "num"), cell(duration(a.p95_ms), "num"), cell(a.runs_24h, "num"), cell(when(a.last_start_time)));
    return row;
  }));
}

function renderCharts(timeline, start, end) {
  const names = [...new Set(timeline.map((b) => b.agent_name))].slice(0, telemetryCharts.PALETTE.length);
  const color = (name) => telemetryCharts.PALETTE[names.indexOf(name)];
  const bucketTime = (b) => new Date(b.bucket.length === 10 ? b.bucket + "T00:00:00Z" : b.bucket + ":00:00Z");
  const series = (pick) => names.map((name) => ({name, color: color(name), points: timeline
    .filter((b) => b.agent_name === name && pick(b) !== null).map((b) => ({t: bucketTime(b), y: pick(b)}))}));
  telemetryCharts.lineChart($("chart-success"), series((b) => (b.ended ? (100 * b.successes) / b.ended : null)),
    {yMax: 100, format: (v) => `${Math.round(v)}%`, start, end});
  telemetryCharts.lineChart($("chart-duration"), series((b) => (typeof b.mean_duration_ms === "number" ? b.mean_duration_ms : null)),
    {format: duration, tick: telemetryCharts.tickDuration, niceMax: telemetryCharts.niceDurationMax, start, end});
  $("legend").replaceChildren(...names.map((name) => {
    const item = el("span", "legend-item");
    const swatch = el("span", "swatch");
    swatch.style.background = color(name);
    item.append(swatch, el("span", null, name));
    return item;
  }));
}

function renderRuns(rows) {
  state.hasMore = rows.length > PAGE_SIZE;
  const shown = rows.slice(0, PAGE_SIZE);
  const body = $("runs").tBodies[0];
  if (shown.length === 0) {
    const row = el("tr", "empty-row");
    const only = cell("No runs match these filters.", "muted");
    only.colSpan = 7;
    row.append(only);
    body.replaceChildren(row);
  } else {
    body.replaceChildren(...shown.map((run) => {
      const row = el("tr");
      row.dataset.eventId = run.event_id;
      row.tabIndex = 0;
      const status = el("td");
      status.append(statusPill(run.status));
      row.append(cell(when(run.start_time), "nowrap"), cell(run.agent_name, "agent"), cell(run.run_id, "mono runid"),
        cell(run.job_type), status, cell(duration(run.duration_ms), "num"),
        cell(`${run.items_succeeded ?? 0} / ${run.items_failed ?? 0}`, "num"));
      row.addEventListener("click", () => openRun(run.event_id));
      row.addEventListener("keydown", (event) => { if (event.key === "Enter") openRun(run.event_id); });
      return row;
    }));
  }
  const first = state.page * PAGE_SIZE;
  $("page-info").textContent = shown.length ? `Runs ${first + 1}–${first + shown.length} · page ${state.page + 1}` : `Page ${state.page + 1}`;
  $("prev").disabled = state.page === 0;
  $("next").disabled = !state.hasMore;
}

function fillOptions(select, values) {
  const chosen = select.value;
  const first = select.options[0];
  select.replaceChildren(first, ...values.map((value) => { const o = el("option", null, value); o.value = value; return o; }));
  select.value = values.includes(chosen) ? chosen : "";
}

async function refresh() {
  if (state.loading) return;
  state.loading = true;
  try {
    const since = sinceStamp();
    const chartStart = new Date(since || Date.now() - ALL_TIME_CHART_MS), chartEnd = new Date();
    const bucket = !since || Date.now() - chartStart > 2 * 86400e3 ? "day" : "hour";
    const [metrics, agents, timeline, runs, agentNames, jobTypes] = await Promise.all([
      api("/metrics"), api("/api/v1/stats/agents", {since}),
      api("/api/v1/stats/timeline", {since: chartStart.toISOString(), bucket}),
      api("/api/v1/runs", {agent_name: $("f-agent").value, status: $("f-status").value, job_type: $("f-job").value,
        run_id: $("f-run").value.trim(), start_time_from: since, limit: PAGE_SIZE + 1, offset: state.page * PAGE_SIZE}),
      api("/api/v1/metadata/agent_name"), api("/api/v1/metadata/job_type"),
    ]);
    showApp();
    fillOptions($("f-agent"), agentNames.values.map(String));
    fillOptions($("f-job"), jobTypes.values.map(String));
    const range = $("f-since").selectedOptions[0].textContent.toLowerCase();
    renderTiles(metrics, agents, range);
    renderAgents(agents);
    renderCharts(timeline, chartStart, chartEnd);
    $("chart-range").textContent = `per ${bucket}, ${range}`;
    renderRuns(runs);
    $("updated").textContent = "Updated " + new Date().toLocaleTimeString();
    $("banner").hidden = true;
  } catch (error) {
    if (error instanceof AuthRequired) showLogin(sessionStorage.getItem(TOKEN_KEY) ? "The service refused this token." : "");
    else showBanner(`Cannot load data: ${error.message}`);
  } finally {
    state.loading = false;
  }
}

// --- run detail -------------------------------------------------------------------------
const DETAIL_HEAD = ["run_id", "event_id", "agent_name", "job_type", "status", "start_time", "end_time", "duration_ms"];
const DETAIL_BLOCKS = ["error_summary", "error_details", "metrics_json", "context_json"];

function detailBlock(title, value, className) {
  const block = el("section", "detail-block");
  const text = typeof value === "string" ? value : JSON.stringify(value, null, 2);
  block.append(el("h3", null, title), el("pre", className, text));
  return block;
}

function commitBlock(run, url) {
  const block = el("section", "detail-block");
  block.append(el("h3", null, "Commit"));
  const list = el("dl", "fields");
  for (const name of ["git_repo", "git_branch", "git_commit_hash", "git_commit_source", "git_commit_author"]) {
    if (run[name]) list.append(el("dt", null, name), el("dd", name === "git_commit_hash" ? "mono" : null, run[name]));
  }
  if (url && /^https?:\/\//i.test(url)) {
    const link = el("a", "commit-link", url);
    link.href = url;
    link.target = "_blank";
    link.rel = "noopener noreferrer";
    const dd = el("dd");
    dd.append(link);
    list.append(el("dt", null, "commit_url"), dd);
  }
  block.append(list);
  return block;
}

async function openRun(eventId) {
  state.selected = eventId;
  try {
    const path = "/api/v1/runs/" + encodeURIComponent(eventId);
    const run = await api(path);
    const url = run.git_commit_hash ? (await api(path + "/commit-url")).commit_url : null;
    $("detail-title").textContent = run.run_id;
    const fields = el("dl", "fields");
    const rest = Object.keys(run).filter((n) => !DETAIL_HEAD.includes(n) && !DETAIL_BLOCKS.includes(n) && !n.startsWith("git_")).sort();
    for (const name of [...DETAIL_HEAD, ...rest]) {
      const value = run[name];
      if (value === null || value === undefined || value === "" || (value === 0 && !DETAIL_HEAD.includes(name))) continue;
      const dd = el("dd");
      if (name === "status") dd.append(statusPill(value));
      else dd.textContent = name === "duration_ms" ? `${duration(value)} (${value} ms)` : String(value);
      fields.append(el("dt", null, name), dd);
    }
    const parts = [fields];
    for (const name of DETAIL_BLOCKS) {
      const value = run[name];
      if (value !== null && value !== undefined && value !== "") parts.push(detailBlock(name, value, name.startsWith("error") ? "error-text" : null));
    }
    if (run.git_commit_hash || run.git_repo) parts.push(commitBlock(run, url));
    $("detail-body").replaceChildren(...parts);
    $("detail").hidden = false;
    $("scrim").hidden = false;
  } catch (error) {
    if (error instanceof AuthRequired) showLogin("The service refused this token.");
    else showBanner(`Cannot load run: ${error.message}`);
  }
}
function closeRun() { $("detail").hidden = true; $("scrim").hidden = true; state.selected = null; }

// --- screens --------------------------------------------------------------------------------
function showApp() {
  $("login").hidden = true;
  $("app").hidden = false;
  $("live-controls").hidden = false;
  $("signout").hidden = !sessionStorage.getItem(TOKEN_KEY);
}
function showLogin(message) {
  $("app").hidden = true;
  $("live-controls").hidden = true;
  closeRun();
  // Nothing read with a token may stay on screen once the token is refused.
  for (const id of ["tiles", "legend", "chart-success", "chart-duration"]) $(id).replaceChildren();
  for (const id of ["agents", "runs"]) $(id).tBodies[0].replaceChildren();
  $("login").hidden = false;
  $("login-error").hidden = !message;
  $("login-error").textContent = message || "";
  $("token-input").focus();
}
function showBanner(message) { $("banner").textContent = message; $("banner").hidden = false; }

function wire() {
  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    sessionStorage.setItem(TOKEN_KEY, $("token-input").value);
    $("token-input").value = "";
    refresh();
  });
  $("signout").addEventListener("click", () => { sessionStorage.removeItem(TOKEN_KEY); showLogin(""); });
  for (const id of ["f-agent", "f-status", "f-job", "f-since"]) $(id).addEventListener("change", () => { state.page = 0; refresh(); });
  let typing = null;
  $("f-run").addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(() => { state.page = 0; refresh(); }, 300); });
  $("filters").addEventListener("submit", (event) => event.preventDefault());
  $("prev").addEventListener("click", () => { if (state.page > 0) { state.page -= 1; refresh(); } });
  $("next").addEventListener("click", () => { if (state.hasMore) { state.page += 1; refresh(); } });
  $("detail-close").addEventListener("click", closeRun);
  $("scrim").addEventListener("click", closeRun);
  document.addEventListener("keydown", (event) => { if (event.key === "Escape") closeRun(); });
  setInterval(() => { if ($("live").checked && !$("app").hidden && document.visibilityState === "visible") refresh(); }, REFRESH_MS);
}

wire();
refresh();
