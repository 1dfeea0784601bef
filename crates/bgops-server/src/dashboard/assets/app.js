// The bgops dashboard: a client of the Web API like any other. It signs in with an API key kept
// in sessionStorage (gone when the tab closes), sends it as a bearer token, and builds every
// element with textContent (no markup from data).

const KEY = "bgops.token";
const WEB_API = "/api/data/v9.2";
const REFRESH_MS = 5000;
const PAGE_SIZE = 50;
const STATUSES = [
  [0, "Waiting For Resources"],
  [20, "In Progress"],
  [22, "Canceling"],
  [30, "Succeeded"],
  [31, "Failed"],
  [32, "Canceled"],
];
const LABEL = "@OData.Community.Display.V1.FormattedValue";

const main = document.getElementById("main");
let timer = null; // the current view's refresh, cleared on every navigation
let readOnly = false;
const LIVE_RETRY_MS = 3000;

/** An element with attributes and children (strings become text nodes). */
function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) el.addEventListener(k.slice(2), v);
    else el.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat()) {
    if (c !== null && c !== undefined) el.append(c instanceof Node ? c : String(c));
  }
  return el;
}

function show(title, ...content) {
  document.title = `${title} · bgops`;
  main.replaceChildren(h("h1", {}, title), ...content);
}

class SignedOut extends Error {}

/** Calls the Web API with the signed-in key; a 401 signs out. */
async function api(path, { method = "GET", headers = {} } = {}) {
  const token = sessionStorage.getItem(KEY);
  if (!token) throw new SignedOut();
  const resp = await fetch(path, {
    method,
    headers: { Authorization: `Bearer ${token}`, Accept: "application/json", ...headers },
  });
  if (resp.status === 401) {
    sessionStorage.removeItem(KEY);
    throw new SignedOut();
  }
  const text = await resp.text();
  const body = text ? JSON.parse(text) : null;
  if (!resp.ok) {
    throw new Error(body?.error?.message ?? `${resp.status} ${resp.statusText}`);
  }
  return body;
}

function navigate(url) {
  history.pushState(null, "", url);
  route({ focus: true });
}

// Links inside the app navigate without a reload.
document.addEventListener("click", (e) => {
  const a = e.target.closest?.("a[href^='/ui/']");
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", () => route({ focus: true }));
document.getElementById("signout").addEventListener("click", () => {
  sessionStorage.removeItem(KEY);
  navigate("/ui/");
});

function age(iso) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

function statusLabel(code) {
  return STATUSES.find(([c]) => c === code)?.[1] ?? String(code);
}


// ---------------------------------------------------------------------------------------------
// Live changes: `GET /api/events` (server-sent events) read with fetch(), because EventSource
// cannot send the Authorization header. One stream per tab, open only while a view that wants
// it is shown and the tab is visible: nobody watching costs the server nothing.

const live = { handler: null, ctrl: null, retry: null };

/** Sends every change the signed-in user may see to `handler(change)` until the next view. */
function watchChanges(handler) {
  live.handler = handler;
  openStream();
}

function stopWatching() {
  live.handler = null;
  closeStream();
}

function closeStream() {
  clearTimeout(live.retry);
  live.retry = null;
  live.ctrl?.abort();
  live.ctrl = null;
}

document.addEventListener("visibilitychange", () => {
  if (document.hidden) return closeStream();
  if (!live.handler) return;
  // Changes made while hidden were not sent: the view reads afresh, then follows from now.
  live.handler({ resync: true });
  openStream();
});

/** One SSE block (`id:` and `data:` lines) to its data, parsed; comments give null. */
function sseData(block) {
  const data = block.split("\n").filter((l) => l.startsWith("data:"))
    .map((l) => l.slice(5).replace(/^ /, "")).join("\n");
  return data ? JSON.parse(data) : null;
}

async function openStream() {
  if (!live.handler || live.ctrl || document.hidden) return;
  const token = sessionStorage.getItem(KEY);
  if (!token) return;
  const ctrl = new AbortController();
  live.ctrl = ctrl;
  try {
    const resp = await fetch("/api/events", {
      headers: { Authorization: `Bearer ${token}`, Accept: "text/event-stream" },
      signal: ctrl.signal,
    });
    if (!resp.ok) throw new Error(`${resp.status}`);
    const reader = resp.body.pipeThrough(new TextDecoderStream()).getReader();
    let buf = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buf += value.replaceAll("\r\n", "\n");
      let end;
      while ((end = buf.indexOf("\n\n")) >= 0) {
        const change = sseData(buf.slice(0, end));
        buf = buf.slice(end + 2);
        if (change) live.handler?.(change);
      }
    }
  } catch {
    // Aborted (navigation, hidden tab) or cut: retried below while still wanted.
  }
  if (live.ctrl !== ctrl) return;
  live.ctrl = null;
  if (live.handler && !document.hidden) live.retry = setTimeout(openStream, LIVE_RETRY_MS);
}

/** `fn` at most once per `ms`, trailing: bursts of changes cost one read. */
function debounce(fn, ms) {
  let t = null;
  return () => {
    if (t) return;
    t = setTimeout(() => { t = null; fn(); }, ms);
  };
}

// ---------------------------------------------------------------------------------------------
// Views

function signIn(message) {
  document.getElementById("nav").hidden = true;
  document.getElementById("signout").hidden = true;
  document.getElementById("who").textContent = "";
  const input = h("input", {
    id: "token", name: "token", type: "password", autocomplete: "off", required: true,
    "aria-describedby": "token-help",
  });
  const error = h("p", { class: "error", role: "alert" }, message ?? "");
  const form = h("form", { class: "signin" },
    h("div", {}, h("label", { for: "token" }, "API key"), input,
      h("p", { id: "token-help", class: "muted" },
        "Kept in this tab only, and sent to this server with every call.")),
    h("button", { type: "submit", class: "primary" }, "Sign in"),
    error);
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    sessionStorage.setItem(KEY, input.value.trim());
    try {
      await api(`${WEB_API}/WhoAmI()`);
      route({ focus: true });
    } catch (err) {
      sessionStorage.removeItem(KEY);
      error.textContent = err instanceof SignedOut ? "That key was not accepted." : err.message;
    }
  });
  show("Sign in", form);
  input.focus();
}

const SVG_NS = "http://www.w3.org/2000/svg";

/** An SVG element with attributes and children. */
function svg(tag, attrs = {}, ...children) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, String(v));
  for (const c of children.flat()) if (c) el.append(c instanceof Node ? c : String(c));
  return el;
}

/** A bar chart of `values` (one per minute, oldest first), hand-drawn in SVG. `label` names
 * it for screen readers; `format` writes one value for a bar's tooltip. */
function barChart(values, minutes, { label, cls, max, format }) {
  const W = 600, H = 120, n = values.length, bw = W / n;
  const top = Math.max(max ?? 0, ...values, 1);
  const bars = values.map((v, i) => {
    const bh = (v / top) * (H - 4);
    return svg("rect", { x: (i * bw + 1).toFixed(1), y: (H - bh).toFixed(1),
      width: Math.max(bw - 2, 1).toFixed(1), height: bh.toFixed(1), class: cls },
    svg("title", {}, `${new Date(minutes[i]).toLocaleTimeString()}: ${format(v)}`));
  });
  return svg("svg", { viewBox: `0 0 ${W} ${H}`, role: "img", "aria-label": label, class: "chart",
    preserveAspectRatio: "none" },
  svg("line", { x1: 0, y1: H - 0.5, x2: W, y2: H - 0.5, class: "axis" }), bars);
}

function activityView(a) {
  const mins = a.minutes.map((m) => m.minute);
  const done = a.minutes.map((m) => m.succeeded + m.failed + m.canceled);
  const total = done.reduce((x, y) => x + y, 0);
  const failed = a.minutes.reduce((x, m) => x + m.failed, 0);
  const ended = a.minutes.reduce((x, m) => x + m.succeeded + m.failed, 0);
  const rate = a.minutes.map((m) => (m.succeeded + m.failed ? m.failed / (m.succeeded + m.failed) : 0));
  const pct = (x) => `${Math.round(x * 100)} %`;
  const throughput = h("figure", { "data-testid": "throughput" },
    h("figcaption", {}, h("strong", {}, "Throughput"), ` — ${total} finished in the last hour`),
    barChart(done, mins, { label: `Operations finished per minute over the last hour: ${total} in all.`,
      cls: "bar", format: (v) => `${v} finished` }));
  const failure = h("figure", { "data-testid": "failure-rate" },
    h("figcaption", {}, h("strong", {}, "Failure rate"),
      ` — ${ended ? pct(failed / ended) : "none finished"} (${failed} failed)`),
    barChart(rate, mins, { label: `Share of finished operations that failed, per minute over the last hour: ${failed} of ${ended}.`,
      cls: "bar-failed", max: 1, format: pct }));
  const byApi = a.byApi.length
    ? h("table", { "data-testid": "by-api" },
      h("caption", { class: "muted" }, "Finished in the last hour, by custom API"),
      h("thead", {}, h("tr", {}, ["Custom API", "Succeeded", "Failed", "Canceled"]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, a.byApi.map((r) => h("tr", {},
        h("th", { scope: "row" }, h("a", { href: `/ui/operations?${new URLSearchParams({ name: r.name })}` }, r.name)),
        h("td", {}, r.succeeded), h("td", {}, r.failed), h("td", {}, r.canceled)))))
    : h("p", { class: "muted" }, "Nothing finished in the last hour.");
  const nodes = a.nodes.length
    ? h("table", { "data-testid": "nodes" },
      h("caption", { class: "muted" },
        "Nodes holding leases on operations (from the rows' lease owners; a node renews its leases while it runs attempts)"),
      h("thead", {}, h("tr", {}, ["Node", "Leases", "Latest lease expires", ""]
        .map((t) => h("th", { scope: "col" }, t)))),
      h("tbody", {}, a.nodes.map((n) => h("tr", {},
        h("th", { scope: "row" }, n.node), h("td", {}, n.leases), h("td", {}, when(n.latestLeaseExpiry)),
        h("td", { class: n.expired ? "error" : "muted" }, n.expired ? "lease expired: not renewing" : "renewing")))))
    : h("p", { class: "muted", "data-testid": "nodes" }, "No node holds a lease: no attempt is running.");
  return [h("div", { class: "charts" }, throughput, failure),
    h("h2", {}, "By custom API"), byApi, h("h2", {}, "Nodes"), nodes];
}

async function overview() {
  const cards = h("div", { class: "cards", "aria-live": "polite" });
  const activity = h("div");
  const note = h("p", { class: "muted" });
  show("Overview", cards, activity, note);
  const refresh = async () => {
    const s = await api("/api/dashboard/summary");
    readOnly = s.readOnly;
    const card = (label, n, status) =>
      h("a", { class: "card", href: `/ui/operations?status=${status}`, "data-testid": `count-${status}` },
        h("span", { class: "n" }, n), label);
    cards.replaceChildren(
      card("waiting", s.waiting, 0),
      card("in progress", s.inProgress, 20),
      card("canceling", s.canceling, 22),
      h("div", { class: "card" }, h("span", { class: "n", "data-testid": "oldest" },
        age(s.oldestWaitingCreatedOn)), "oldest waiting"));
    activity.replaceChildren(...activityView(s.activity));
    note.textContent = `As read ${when(s.readAt)}, shared by every viewer (read again at most every ${REFRESH_MS / 1000} s).`;
  };
  await refresh();
  // The counts change with operations (the live stream) and the oldest age with time.
  const again = () => refresh().catch(fail);
  timer = setInterval(() => { if (!document.hidden) again(); }, REFRESH_MS);
  watchChanges(debounce(again, 1000));
}

const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An error code as typed (`0x80040265` or decimal) to the stored signed 32-bit integer. */
function errorCodeValue(text) {
  const t = (text ?? "").trim();
  if (/^0x[0-9a-f]{1,8}$/i.test(t)) return parseInt(t.slice(2), 16) | 0;
  if (/^-?\d{1,10}$/.test(t)) return Number(t) | 0;
  return null;
}

/** A stored error code as Dataverse writes it (`0x80040265`). */
function errorCodeText(code) {
  return code == null ? "" : `0x${(code >>> 0).toString(16).padStart(8, "0")}`;
}

/** A URL time (ISO, UTC) as an OData literal; null when it is not a time. */
function timeLiteral(text) {
  const ms = Date.parse(text ?? "");
  return Number.isNaN(ms) ? null : new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}

/** A URL time for a `datetime-local` input (local time, minutes). */
function localInput(text) {
  const ms = Date.parse(text ?? "");
  if (Number.isNaN(ms)) return "";
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60000);
  return d.toISOString().slice(0, 16);
}

/** The OData `$filter` for the list's filters (the URL's `status`, `name`, `from`, `to`,
 * `runas`, `error`), values written as OData literals; a value that is not of its kind is
 * left out, as the form shows. */
function listFilter(params) {
  const parts = [];
  const status = params.get("status");
  if (status && /^\d+$/.test(status)) parts.push(`backgroundoperationstatuscode eq ${status}`);
  const name = params.get("name");
  if (name) parts.push(`name eq '${name.replaceAll("'", "''")}'`);
  const from = timeLiteral(params.get("from"));
  if (from) parts.push(`createdon ge ${from}`);
  const to = timeLiteral(params.get("to"));
  if (to) parts.push(`createdon lt ${to}`);
  const runas = params.get("runas");
  if (runas && GUID.test(runas)) parts.push(`runas eq '${runas.toLowerCase()}'`);
  const error = errorCodeValue(params.get("error"));
  if (error !== null) parts.push(`errorcode eq ${error}`);
  return parts.join(" and ");
}

/** A modal dialog asking `question`; resolves to whether `yes` was chosen (Escape: no). */
function ask(question, yes, no) {
  return new Promise((resolve) => {
    const title = h("h2", { id: "ask-title" }, question);
    const ok = h("button", { type: "button", class: "danger" }, yes);
    const keep = h("button", { type: "button" }, no);
    const dialog = h("dialog", { "aria-labelledby": "ask-title" }, title, h("p", {}, ok, " ", keep));
    const close = (answer) => { dialog.close(); dialog.remove(); resolve(answer); };
    ok.addEventListener("click", () => close(true));
    keep.addEventListener("click", () => close(false));
    dialog.addEventListener("cancel", (e) => { e.preventDefault(); close(false); });
    document.body.append(dialog);
    dialog.showModal();
    keep.focus();
  });
}

/** Cancels every operation `filter` selects, on the server, after confirming the count. */
async function bulkCancel(filter, note, button) {
  const q = filter ? `?${new URLSearchParams({ $filter: filter })}` : "";
  const { count } = await api(`/api/dashboard/cancel${q}`);
  if (!count) {
    note.textContent = "No operation matching this filter can be canceled.";
    return;
  }
  const plural = count === 1 ? "operation" : "operations";
  if (!await ask(`Cancel ${count} ${plural} matching this filter?`, `Cancel ${count}`, "Keep them")) return;
  button.disabled = true;
  let canceled = 0;
  try {
    // Each call cancels a bounded batch; a few more rounds than the count needs, at most.
    for (let round = 0; round < 1000; round++) {
      const r = await api(`/api/dashboard/cancel${q}`, { method: "POST" });
      canceled += r.canceled;
      if (!r.more || !r.canceled) break;
    }
  } finally {
    button.disabled = false;
  }
  note.textContent = `Cancellation requested for ${canceled} ${canceled === 1 ? "operation" : "operations"}.`;
}

async function operations(params) {
  const oldest = params.get("sort") === "oldest";
  const field = (id, label, control, help) => h("div", {},
    h("label", { for: id }, label), control, help ? h("span", { id: `${id}-help`, class: "hint" }, help) : null);
  const statusSelect = h("select", { id: "f-status", name: "status" },
    h("option", { value: "" }, "Any"),
    STATUSES.map(([c, l]) => h("option", { value: c, selected: params.get("status") === String(c) }, l)));
  const nameInput = h("input", { id: "f-name", name: "name", value: params.get("name") ?? "" });
  const fromInput = h("input", { id: "f-from", name: "from", type: "datetime-local",
    value: localInput(params.get("from")) });
  const toInput = h("input", { id: "f-to", name: "to", type: "datetime-local",
    value: localInput(params.get("to")) });
  const runasInput = h("input", { id: "f-runas", name: "runas", value: params.get("runas") ?? "",
    pattern: "[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}",
    "aria-describedby": "f-runas-help", size: 36 });
  const errorInput = h("input", { id: "f-error", name: "error", value: params.get("error") ?? "",
    pattern: "0[xX][0-9a-fA-F]{1,8}|-?[0-9]{1,10}", "aria-describedby": "f-error-help", size: 12 });
  const sortSelect = h("select", { id: "f-sort", name: "sort" },
    h("option", { value: "" }, "Newest first"),
    h("option", { value: "oldest", selected: oldest }, "Oldest first"));
  const form = h("form", { class: "filters", role: "search" },
    field("f-status", "Status", statusSelect),
    field("f-name", "Custom API", nameInput),
    field("f-from", "Created from", fromInput),
    field("f-to", "Created before", toInput),
    field("f-runas", "Run as user", runasInput, "a user id (GUID)"),
    field("f-error", "Error code", errorInput, "e.g. 0x80040265"),
    field("f-sort", "Order", sortSelect),
    h("button", { type: "submit" }, "Filter"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const q = new URLSearchParams();
    if (statusSelect.value) q.set("status", statusSelect.value);
    if (nameInput.value.trim()) q.set("name", nameInput.value.trim());
    if (fromInput.value) q.set("from", new Date(fromInput.value).toISOString().replace(/\.\d{3}Z$/, "Z"));
    if (toInput.value) q.set("to", new Date(toInput.value).toISOString().replace(/\.\d{3}Z$/, "Z"));
    if (runasInput.value.trim()) q.set("runas", runasInput.value.trim());
    if (errorInput.value.trim()) q.set("error", errorInput.value.trim());
    if (sortSelect.value) q.set("sort", sortSelect.value);
    navigate(`/ui/operations${q.size ? `?${q}` : ""}`);
  });
  const body = h("tbody");
  const table = h("table", {},
    h("caption", { class: "muted" }, oldest ? "Oldest first" : "Newest first"),
    h("thead", {}, h("tr", {}, ["Operation", "Custom API", "Status", "Created", "Ended", "Error"]
      .map((t) => h("th", { scope: "col" }, t)))),
    body);
  const bulk = h("button", { type: "button", class: "danger", hidden: readOnly },
    "Cancel all matching…");
  const bulkNote = h("p", { role: "status", "data-testid": "bulk-note" });
  const next = h("button", { type: "button", disabled: true }, "Next page");
  const first = h("button", { type: "button", disabled: true }, "First page");
  const pageNote = h("span", { class: "muted", "aria-live": "polite" });
  show("Operations", form, h("div", { class: "actions" }, bulk), bulkNote, table,
    h("div", { class: "pager" }, first, next, pageNote));

  const q = new URLSearchParams({
    $select: "backgroundoperationid,name,backgroundoperationstatuscode,createdon,endtime,errorcode",
    // Only `createdon` is offered: the list reads it by index (ix_bo_created) at any depth.
    $orderby: oldest ? "createdon asc" : "createdon desc",
  });
  const filter = listFilter(params);
  if (filter) q.set("$filter", filter);
  const firstUrl = `${WEB_API}/backgroundoperations?${q}`;
  let page = 1;
  const load = async (url) => {
    const res = await api(url, {
      headers: { Prefer: `odata.maxpagesize=${PAGE_SIZE},odata.include-annotations="*"` },
    });
    body.replaceChildren(...res.value.map((r) => h("tr", { "data-id": r.backgroundoperationid },
      h("td", {}, h("a", { href: `/ui/operations/${r.backgroundoperationid}` }, r.backgroundoperationid)),
      h("td", {}, r.name),
      h("td", { class: `status-${r.backgroundoperationstatuscode}`, "data-col": "status" },
        r[`backgroundoperationstatuscode${LABEL}`] ?? statusLabel(r.backgroundoperationstatuscode)),
      h("td", {}, when(r.createdon)),
      h("td", { "data-col": "ended" }, when(r.endtime)),
      h("td", { "data-col": "error" }, errorCodeText(r.errorcode)))));
    if (!res.value.length) body.replaceChildren(h("tr", {}, h("td", { colspan: 6 }, "No operations.")));
    const link = res["@odata.nextLink"];
    next.disabled = !link;
    next.onclick = () => { page += 1; load(new URL(link).pathname + new URL(link).search).catch(fail); };
    first.disabled = page === 1;
    pageNote.textContent = `Page ${page}`;
  };
  first.onclick = () => { page = 1; load(firstUrl).catch(fail); };
  bulk.addEventListener("click", () => bulkCancel(filter, bulkNote, bulk)
    .then(() => { page = 1; return load(firstUrl); }).catch(fail));
  await load(firstUrl);

  // Live: a shown row takes its new status at once; a row not shown may be new, and the first
  // page (newest first) is read again, at most once a second, to place it under the filter.
  const reloadFirst = debounce(() => { if (page === 1 && !oldest) load(firstUrl).catch(fail); }, 1000);
  watchChanges((change) => {
    if (change.resync) return reloadFirst();
    const tr = body.querySelector(`tr[data-id="${change.backgroundOperationId}"]`);
    if (!tr) return reloadFirst();
    const code = change.backgroundOperationStatusCode;
    const cell = tr.querySelector("[data-col=status]");
    cell.className = `status-${code}`;
    cell.textContent = statusLabel(code);
    if (change.backgroundOperationStateCode === 3) reloadFirst(); // its end time
  });
}

/** Key/Value parameters as stored (`[{"key":…,"value":…}]`) or an object, as rows. */
function parameters(text) {
  if (!text) return h("p", { class: "muted" }, "None.");
  let v;
  try { v = JSON.parse(text); } catch { return h("pre", {}, text); }
  const pairs = Array.isArray(v) ? v.map((p) => [p.key ?? p.Key, p.value ?? p.Value]) : Object.entries(v);
  if (!pairs.length) return h("p", { class: "muted" }, "None.");
  return h("table", {}, h("tbody", {}, pairs.map(([k, val]) => h("tr", {},
    h("th", { scope: "row" }, k),
    h("td", {}, typeof val === "object" ? JSON.stringify(val) : String(val))))));
}

async function operation(id) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new Error("That is not an operation id.");
  const load = () => api(`${WEB_API}/backgroundoperations(${id})`, {
    headers: { Prefer: 'odata.include-annotations="*"' },
  });
  let row = await load();
  // Its OnBackgroundOperationComplete system jobs (by the indexed regarding lookup).
  const jobs = h("div", { "data-testid": "jobs" });
  const loadJobs = () => api(`${WEB_API}/asyncoperations?${new URLSearchParams({
    $select: "name,statuscode,startedon,completedon,errorcode,message,retrycount,_owningextensionid_value",
    $filter: `_regardingobjectid_value eq ${id}`, $orderby: "createdon asc" })}`,
  { headers: { Prefer: 'odata.include-annotations="*"' } })
    .then((r) => jobs.replaceChildren(dataTable("OnBackgroundOperationComplete system jobs",
      ["Job", "Step", "Status", "Started", "Completed", "Retries", "Error"],
      r.value.map((j) => h("tr", {}, h("th", { scope: "row" }, j.name ?? "—"),
        h("td", {}, label(j, "_owningextensionid_value")), h("td", {}, label(j, "statuscode")),
        h("td", {}, when(j.startedon)), h("td", {}, when(j.completedon)), h("td", {}, j.retrycount ?? 0),
        h("td", {}, `${errorCodeText(j.errorcode)} ${j.message ?? ""}`.trim()))))))
    .catch((err) => {
      if (err instanceof SignedOut) throw err;
      jobs.replaceChildren(h("p", { class: "muted" }, `System jobs: ${err.message}`));
    });
  const render = () => {
    const code = row.backgroundoperationstatuscode;
    const terminal = row.backgroundoperationstatecode === 3;
    const cancel = h("button", { type: "button", class: "danger", hidden: terminal || readOnly }, "Cancel");
    cancel.addEventListener("click", async () => {
      if (!confirm(`Cancel operation ${id} (${row.name})?`)) return;
      cancel.disabled = true;
      try {
        await api(`/api/backgroundoperation/${id}`, { method: "DELETE" });
        row = await load();
        render();
      } catch (err) { fail(err); }
    });
    const resubmit = h("button", { type: "button", hidden: !terminal || readOnly }, "Resubmit");
    resubmit.addEventListener("click", async () => {
      resubmit.disabled = true;
      try {
        const r = await api(`/api/dashboard/resubmit/${id}`, { method: "POST" });
        navigate(`/ui/operations/${r.backgroundOperationId}?resubmittedFrom=${id}`);
      } catch (err) { resubmit.disabled = false; fail(err); }
    });
    const from = new URLSearchParams(location.search).get("resubmittedFrom");
    const origin = from && /^[0-9a-f-]{36}$/i.test(from)
      ? h("p", { "data-testid": "resubmitted-from" }, "Resubmitted from ",
        h("a", { href: `/ui/operations/${from}` }, from), ".")
      : null;
    const field = (label, value, attrs = {}) => [h("dt", {}, label), h("dd", attrs, value ?? "—")];
    show(`Operation ${row.name}`, h("div", {}, origin),
      h("dl", { class: "fields" },
        field("Id", row.backgroundoperationid),
        field("Status", row[`backgroundoperationstatuscode${LABEL}`] ?? statusLabel(code),
          { class: `status-${code}`, "data-testid": "status", "aria-live": "polite" }),
        field("Created", when(row.createdon)),
        field("Started", when(row.starttime)),
        field("Ended", when(row.endtime)),
        field("Retries", row.retrycount),
        field("Error", row.errorcode != null ? `${row.errorcode}: ${row.errormessage ?? ""}` : null),
        field("Time to live", row.ttlinseconds != null ? `${row.ttlinseconds} s after the last change` : null)),
      h("h2", {}, "Inputs"), parameters(row.inputparameters),
      h("h2", {}, "Outputs"), parameters(row.outputparameters),
      h("h2", {}, "System jobs"), jobs,
      h("p", {}, cancel, resubmit, " ", h("a", { href: "/ui/operations" }, "All operations")));
    clearInterval(timer);
    // A running operation is watched through its status monitor: one row by key per tick.
    if (!terminal) {
      timer = setInterval(async () => {
        try {
          const s = await api(`/api/backgroundoperation/${id}`);
          if (s.backgroundOperationStatusCode !== row.backgroundoperationstatuscode) {
            row = await load();
            render();
            loadJobs().catch(fail);
          }
        } catch (err) { fail(err); }
      }, 1000);
    }
  };
  render();
  await loadJobs();
}

/** Every row of a Web API collection query (these tables are small: definitions). */
async function all(path) {
  const out = [];
  let url = path;
  while (url) {
    const res = await api(url, { headers: { Prefer: 'odata.include-annotations="*"' } });
    out.push(...res.value);
    const next = res["@odata.nextLink"];
    url = next ? new URL(next).pathname + new URL(next).search : null;
  }
  return out;
}

/** A table with a caption, column headings and rows of cells. */
function dataTable(caption, headings, rows, attrs = {}) {
  return h("table", attrs, h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headings.length }, "None."))));
}

const label = (row, col) => row[`${col}${LABEL}`] ?? row[col] ?? "—";

async function customApis() {
  const [apis, params, props] = await Promise.all([
    all(`${WEB_API}/customapis?$select=uniquename,displayname,description,isfunction,executeprivilegename,bindingtype&$orderby=uniquename`),
    all(`${WEB_API}/customapirequestparameters?$select=uniquename,type,isoptional,description,_customapiid_value&$orderby=uniquename`),
    all(`${WEB_API}/customapiresponseproperties?$select=uniquename,type,description,_customapiid_value&$orderby=uniquename`),
  ]);
  const of = (list, id) => list.filter((p) => p._customapiid_value === id);
  show("Custom APIs", ...apis.map((a) => h("section", { class: "api", "aria-labelledby": `api-${a.customapiid}` },
    h("h2", { id: `api-${a.customapiid}` }, a.uniquename),
    h("p", {}, `${a.displayname ?? ""}${a.description ? ` — ${a.description}` : ""}`, " ",
      h("span", { class: "muted" }, a.isfunction ? "function (GET)" : "action (POST)",
        a.executeprivilegename ? `, needs ${a.executeprivilegename}` : ""), " ",
      h("a", { href: `/ui/operations?${new URLSearchParams({ name: a.uniquename })}` }, "Its operations")),
    dataTable("Request parameters", ["Name", "Type", "Required", "Description"],
      of(params, a.customapiid).map((p) => h("tr", {}, h("th", { scope: "row" }, p.uniquename),
        h("td", {}, label(p, "type")), h("td", {}, p.isoptional ? "optional" : "required"),
        h("td", {}, p.description ?? "")))),
    dataTable("Response properties", ["Name", "Type", "Description"],
      of(props, a.customapiid).map((p) => h("tr", {}, h("th", { scope: "row" }, p.uniquename),
        h("td", {}, label(p, "type")), h("td", {}, p.description ?? "")))))),
  apis.length ? null : h("p", {}, "No custom API is defined."));
}

async function steps() {
  const [endpoints, registered, failures] = await Promise.all([
    all(`${WEB_API}/serviceendpoints?$select=name,url,contract,authtype&$orderby=name`),
    all(`${WEB_API}/sdkmessageprocessingsteps?$select=name,stage,mode,statecode,_eventhandler_value,_sdkmessageid_value&$orderby=name`),
    // Recent failures: newest first, read by index (statuscode, completedon).
    api(`${WEB_API}/asyncoperations?$select=name,errorcode,message,completedon,_owningextensionid_value,_regardingobjectid_value&$filter=statuscode eq 31&$orderby=completedon desc&$top=20`,
      { headers: { Prefer: 'odata.include-annotations="*"' } }).then((r) => r.value),
  ]);
  show("Webhooks & steps",
    dataTable("Service endpoints (webhooks)", ["Name", "URL", "Contract", "Authentication"],
      endpoints.map((e) => h("tr", {}, h("th", { scope: "row" }, e.name), h("td", {}, e.url ?? ""),
        h("td", {}, label(e, "contract")), h("td", {}, label(e, "authtype")))),
      { "data-testid": "endpoints" }),
    dataTable("Steps", ["Name", "Message", "Handler", "Stage", "Mode", "State"],
      registered.map((st) => h("tr", {}, h("th", { scope: "row" }, st.name),
        h("td", {}, label(st, "_sdkmessageid_value")), h("td", {}, label(st, "_eventhandler_value")),
        h("td", {}, label(st, "stage")), h("td", {}, label(st, "mode")), h("td", {}, label(st, "statecode")))),
      { "data-testid": "steps" }),
    dataTable("Recent failures of their system jobs (the last 20)", ["Completed", "Step", "Operation", "Error"],
      failures.map((f) => h("tr", {}, h("td", {}, when(f.completedon)),
        h("td", {}, label(f, "_owningextensionid_value")),
        h("td", {}, f._regardingobjectid_value
          ? h("a", { href: `/ui/operations/${f._regardingobjectid_value}` }, f._regardingobjectid_value) : "—"),
        h("td", {}, `${errorCodeText(f.errorcode)} ${f.message ?? ""}`.trim()))),
      { "data-testid": "failures" }));
}

// ---------------------------------------------------------------------------------------------
// Routing

function fail(err) {
  clearInterval(timer);
  if (err instanceof SignedOut) stopWatching();
  if (err instanceof SignedOut) return signIn("Signed out: the key is missing or no longer valid.");
  main.append(h("p", { class: "error", role: "alert" }, err.message));
}

/** Shows the view the URL names; after an in-app navigation, moves focus to it (a first load
 * leaves focus at the top, where the skip link is). */
async function route({ focus = false } = {}) {
  clearInterval(timer);
  timer = null;
  stopWatching();
  if (!sessionStorage.getItem(KEY)) return signIn();
  const nav = document.getElementById("nav");
  nav.hidden = false;
  document.getElementById("signout").hidden = false;
  const path = location.pathname.replace(/\/+$/, "");
  const view = path.startsWith("/ui/operations") ? "operations"
    : path === "/ui/apis" ? "apis" : path === "/ui/steps" ? "steps" : "overview";
  for (const a of nav.querySelectorAll("a")) {
    if (a.dataset.view === view) a.setAttribute("aria-current", "page");
    else a.removeAttribute("aria-current");
  }
  try {
    if (!document.getElementById("who").textContent) {
      const me = await api(`${WEB_API}/WhoAmI()`);
      document.getElementById("who").textContent = `User ${me.UserId}`;
    }
    const s = await api("/api/dashboard/summary");
    readOnly = s.readOnly;
    const m = path.match(/^\/ui\/operations\/([^/]+)$/);
    if (m) await operation(decodeURIComponent(m[1]));
    else if (path === "/ui/operations") await operations(new URLSearchParams(location.search));
    else if (path === "/ui/apis") await customApis();
    else if (path === "/ui/steps") await steps();
    else if (path === "/ui" || path === "") await overview();
    else show("Not found", h("p", {}, "No such page. ", h("a", { href: "/ui/" }, "Overview")));
  } catch (err) {
    fail(err);
  }
  if (focus) main.focus({ preventScroll: true });
}

route();
