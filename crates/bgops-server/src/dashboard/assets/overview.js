// The overview: the shared summary's counts, the last hour's charts (hand-drawn SVG), nodes.

import {
  REFRESH_MS, view, h, show, api, age, when, watchChanges, debounce, fail,
} from "./ui.js";

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

export async function overview() {
  const cards = h("div", { class: "cards", "aria-live": "polite" });
  const activity = h("div");
  const note = h("p", { class: "muted" });
  show("Overview", cards, activity, note);
  const refresh = async () => {
    const s = await api("/api/dashboard/summary");
    view.readOnly = s.readOnly;
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
  view.timer = setInterval(() => { if (!document.hidden) again(); }, REFRESH_MS);
  watchChanges(debounce(again, 1000));
}
