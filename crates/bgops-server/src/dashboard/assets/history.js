// An operation's history on its page: every attempt with its times and error, the callback
// deliveries with each failed try, and when the row's time to live runs out. One read,
// `GET /api/dashboard/operations/{id}/history`, made through the same privileges as the status
// monitor; read again every few seconds while anything is still moving (the operation runs, a
// delivery or a system job is pending), and never once the page is left.

import { h, api, when, errorCodeText, dataTable, SignedOut, fail } from "./ui.js";

const REFRESH_MS = 2000;

/** A duration in ms as the page shows it. */
function duration(ms) {
  if (ms == null || Number.isNaN(ms)) return "—";
  if (ms < 1000) return `${ms} ms`;
  if (ms < 120000) return `${(ms / 1000).toFixed(1)} s`;
  return `${Math.round(ms / 60000)} min`;
}

/** How long from `start` to `end` (ISO times), when both are known. */
function between(start, end) {
  return start && end ? duration(Date.parse(end) - Date.parse(start)) : "—";
}

/** How far ahead `iso` is, in words. */
function remaining(iso) {
  const s = Math.round((Date.parse(iso) - Date.now()) / 1000);
  if (s <= 0) return "expired: deleted at the next sweep";
  if (s < 120) return `${s} s left`;
  if (s < 7200) return `${Math.round(s / 60)} min left`;
  if (s < 172800) return `${Math.round(s / 3600)} h left`;
  return `${Math.round(s / 86400)} days left`;
}

const errorText = (code, message) => `${errorCodeText(code)} ${message ?? ""}`.trim() || "—";

function attemptsTable(hist) {
  const rows = hist.attempts.map((a) => h("tr", { "data-outcome": a.outcome },
    h("th", { scope: "row" }, a.attempt),
    h("td", { class: a.outcome === "Failed" ? "status-31" : a.outcome === "Succeeded" ? "status-30" : "" },
      a.outcome),
    h("td", {}, when(a.startedOn)),
    h("td", {}, when(a.endedOn)),
    h("td", {}, between(a.startedOn, a.endedOn)),
    h("td", {}, a.outcome === "Failed" || a.errorCode != null ? errorText(a.errorCode, a.errorMessage) : "—"),
    h("td", {}, a.node ?? "—")));
  const caption = `Attempts, oldest first (${hist.retryCount} of ${hist.maxRetries} retries used; `
    + `the last ${hist.attemptsKept} failed attempts are kept)`;
  return dataTable(caption, ["Attempt", "Outcome", "Started", "Ended", "Took", "Error", "Node"], rows,
    { "data-testid": "attempts" });
}

function deliveryPart(d, n) {
  const summary = h("dl", { class: "fields" },
    [["URL", d.url], ["Status", d.status], ["Tries", d.attempts], ["First try", when(d.firstAttemptOn)],
      ["Delivered", when(d.deliveredOn)], ["Next try", when(d.nextAttemptOn)],
      ["Last error", d.lastError ?? "—"], ["webhook-id", d.webhookId]]
      .flatMap(([k, v]) => [h("dt", {}, k), h("dd", {}, v ?? "—")]));
  const tries = dataTable(`Failed tries of delivery ${n}`, ["Try", "Started", "Ended", "Error", "Node"],
    d.tries.map((t) => h("tr", {}, h("th", { scope: "row" }, t.attempt), h("td", {}, when(t.startedOn)),
      h("td", {}, when(t.endedOn)), h("td", {}, t.error), h("td", {}, t.node ?? "—"))),
    { class: "tries" });
  return h("section", { class: "delivery", "data-testid": "delivery", "aria-label": `Delivery ${n}` },
    h("h3", {}, `Delivery ${n}`), summary, tries);
}

/** Whether anything shown may still change. */
function moving(hist) {
  return ![30, 31, 32].includes(hist.backgroundOperationStatusCode)
    || hist.deliveries.some((d) => d.status === "pending")
    || hist.systemJobs.some((j) => j.stateCode !== 3);
}

/** The history parts of operation `id`'s page: `attempts` and `deliveries` (sections to place
 * on the page), `expires` (the time-to-live field's text), and `load()`, which reads the history
 * and keeps it current while the parts are on the page. */
export function operationHistory(id) {
  const attempts = h("div", { "data-testid": "attempts-part" }, h("p", { class: "muted" }, "Loading…"));
  const deliveries = h("div", { "data-testid": "deliveries" });
  const expires = h("span", { "data-testid": "expires" }, "—");
  let timer = null;
  let reads = 0;
  const load = async () => {
    clearTimeout(timer);
    const read = ++reads;
    let hist;
    try {
      hist = await api(`/api/dashboard/operations/${id}/history`);
    } catch (err) {
      if (err instanceof SignedOut) throw err;
      attempts.replaceChildren(h("p", { class: "muted" }, `Attempts: ${err.message}`));
      return;
    }
    attempts.replaceChildren(attemptsTable(hist));
    deliveries.replaceChildren(...(hist.deliveries.length
      ? hist.deliveries.map((d, i) => deliveryPart(d, i + 1))
      : [h("p", { class: "muted" }, "No callback was asked for.")]));
    expires.textContent = `${remaining(hist.expiresOn)} (at ${when(hist.expiresOn)}; `
      + `${hist.ttlInSeconds} s after the last change)`;
    // Read again while something moves, as long as this page shows it.
    if (moving(hist) && read === reads) {
      timer = setTimeout(() => {
        if (attempts.isConnected) load().catch(fail);
      }, REFRESH_MS);
    }
  };
  return { attempts, deliveries, expires, load };
}
