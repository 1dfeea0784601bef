// Definitions: custom APIs with their parameters; webhooks, steps and their recent failures.

import {
  WEB_API, h, show, api, when, errorCodeText, all, dataTable, label,
} from "./ui.js";

export async function customApis() {
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

export async function steps() {
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
