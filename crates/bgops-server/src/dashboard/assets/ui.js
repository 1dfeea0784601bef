// The bgops dashboard's shared parts: a client of the Web API like any other. It signs in with
// an API key kept in sessionStorage (gone when the tab closes), sends it as a bearer token, and
// builds every element with textContent (no markup from data). Also here: the live stream of
// changes, the sign-in view, and the helpers every view uses.

export const KEY = "bgops.token";
export const WEB_API = "/api/data/v9.2";
export const REFRESH_MS = 5000;
export const PAGE_SIZE = 50;
export const STATUSES = [
  [0, "Waiting For Resources"],
  [20, "In Progress"],
  [22, "Canceling"],
  [30, "Succeeded"],
  [31, "Failed"],
  [32, "Canceled"],
];
export const LABEL = "@OData.Community.Display.V1.FormattedValue";

export const main = document.getElementById("main");
/** What the shown view holds: its refresh view.timer (cleared on every navigation), and whether the
 * dashboard is read-only (from the summary). */
export const view = { timer: null, readOnly: false };
/** The router, set by app.js (navigation and sign-in show a view through it). */
export const router = { route: async () => {} };
const LIVE_RETRY_MS = 3000;

/** An element with attributes and children (strings become text nodes). */
export function h(tag, attrs = {}, ...children) {
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

export function show(title, ...content) {
  document.title = `${title} · bgops`;
  main.replaceChildren(h("h1", {}, title), ...content);
}

export class SignedOut extends Error {}

/** Calls the Web API with the signed-in key; a 401 signs out. */
export async function api(path, { method = "GET", headers = {} } = {}) {
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

export function navigate(url) {
  history.pushState(null, "", url);
  router.route({ focus: true });
}


export function age(iso) {
  if (!iso) return "—";
  const s = Math.max(0, Math.round((Date.now() - Date.parse(iso)) / 1000));
  if (s < 120) return `${s} s`;
  if (s < 7200) return `${Math.round(s / 60)} min`;
  return `${Math.round(s / 3600)} h`;
}

export function when(iso) {
  return iso ? new Date(iso).toLocaleString() : "—";
}

export function statusLabel(code) {
  return STATUSES.find(([c]) => c === code)?.[1] ?? String(code);
}


// ---------------------------------------------------------------------------------------------
// Live changes: `GET /api/events` (server-sent events) read with fetch(), because EventSource
// cannot send the Authorization header. One stream per tab, open only while a view that wants
// it is shown and the tab is visible: nobody watching costs the server nothing.

const live = { handler: null, ctrl: null, retry: null };

/** Sends every change the signed-in user may see to `handler(change)` until the next view. */
export function watchChanges(handler) {
  live.handler = handler;
  openStream();
}

export function stopWatching() {
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
export function debounce(fn, ms) {
  let t = null;
  return () => {
    if (t) return;
    t = setTimeout(() => { t = null; fn(); }, ms);
  };
}

// ---------------------------------------------------------------------------------------------
// Views

export function signIn(message) {
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
      router.route({ focus: true });
    } catch (err) {
      sessionStorage.removeItem(KEY);
      error.textContent = err instanceof SignedOut ? "That key was not accepted." : err.message;
    }
  });
  show("Sign in", form);
  input.focus();
}

export const GUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** An error code as typed (`0x80040265` or decimal) to the stored signed 32-bit integer. */
export function errorCodeValue(text) {
  const t = (text ?? "").trim();
  if (/^0x[0-9a-f]{1,8}$/i.test(t)) return parseInt(t.slice(2), 16) | 0;
  if (/^-?\d{1,10}$/.test(t)) return Number(t) | 0;
  return null;
}

/** A stored error code as Dataverse writes it (`0x80040265`). */
export function errorCodeText(code) {
  return code == null ? "" : `0x${(code >>> 0).toString(16).padStart(8, "0")}`;
}


/** A modal dialog asking `question`; resolves to whether `yes` was chosen (Escape: no). */
export function ask(question, yes, no) {
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

/** Every row of a Web API collection query (these tables are small: definitions). */
export async function all(path) {
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
export function dataTable(caption, headings, rows, attrs = {}) {
  return h("table", attrs, h("caption", { class: "muted" }, caption),
    h("thead", {}, h("tr", {}, headings.map((t) => h("th", { scope: "col" }, t)))),
    h("tbody", {}, rows.length ? rows : h("tr", {}, h("td", { colspan: headings.length }, "None."))));
}

/** A column's formatted value (its label), else its value. */
export const label = (row, col) => row[`${col}${LABEL}`] ?? row[col] ?? "—";

export function fail(err) {
  clearInterval(view.timer);
  if (err instanceof SignedOut) stopWatching();
  if (err instanceof SignedOut) return signIn("Signed out: the key is missing or no longer valid.");
  main.append(h("p", { class: "error", role: "alert" }, err.message));
}
