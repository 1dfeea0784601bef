// The operation list (filters in the URL, keyset pages, live, bulk cancel) and an operation's page
// (cancel, resubmit, its attempts and callback deliveries from history.js, its system jobs).

import {
  WEB_API, PAGE_SIZE, STATUSES, LABEL, view, h, show, SignedOut, api, navigate, when,
  statusLabel, watchChanges, debounce, GUID, errorCodeValue, errorCodeText, ask, dataTable,
  label, fail,
} from "./ui.js";
import { operationHistory } from "./history.js";

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

export async function operations(params) {
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
  const bulk = h("button", { type: "button", class: "danger", hidden: view.readOnly },
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

export async function operation(id) {
  if (!/^[0-9a-f-]{36}$/i.test(id)) throw new Error("That is not an operation id.");
  const load = () => api(`${WEB_API}/backgroundoperations(${id})`, {
    headers: { Prefer: 'odata.include-annotations="*"' },
  });
  let row = await load();
  const hist = operationHistory(id);
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
    const cancel = h("button", { type: "button", class: "danger", hidden: terminal || view.readOnly }, "Cancel");
    cancel.addEventListener("click", async () => {
      if (!confirm(`Cancel operation ${id} (${row.name})?`)) return;
      cancel.disabled = true;
      try {
        await api(`/api/backgroundoperation/${id}`, { method: "DELETE" });
        row = await load();
        render();
      } catch (err) { fail(err); }
    });
    const resubmit = h("button", { type: "button", hidden: !terminal || view.readOnly }, "Resubmit");
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
        field("Time to live", hist.expires)),
      h("h2", {}, "Inputs"), parameters(row.inputparameters),
      h("h2", {}, "Outputs"), parameters(row.outputparameters),
      h("h2", {}, "Attempts"), hist.attempts,
      h("h2", {}, "Callback deliveries"), hist.deliveries,
      h("h2", {}, "System jobs"), jobs,
      h("p", {}, cancel, resubmit, " ", h("a", { href: "/ui/operations" }, "All operations")));
    clearInterval(view.timer);
    // A running operation is watched through its status monitor: one row by key per tick.
    if (!terminal) {
      view.timer = setInterval(async () => {
        try {
          const s = await api(`/api/backgroundoperation/${id}`);
          if (s.backgroundOperationStatusCode !== row.backgroundoperationstatuscode) {
            row = await load();
            render();
            loadJobs().catch(fail);
            hist.load().catch(fail);
          }
        } catch (err) { fail(err); }
      }, 1000);
    }
  };
  render();
  await Promise.all([loadJobs(), hist.load()]);
}
