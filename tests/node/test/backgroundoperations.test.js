"use strict";
// The backgroundoperations table over the Web API: retrieve with labels, retrieveMultiple with
// $select/$filter/$orderby/$top/$count and paging, retrieveAll.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { startServer, waitForStatus, submitAsync, operationId, sleep, GUID_RE } = require("./helpers");

const FORMATTED = "OData.Community.Display.V1.FormattedValue";

let server;
let api;
const echoIds = []; // in submission order; the first 6 a second before the last 6
const otherIds = [];

before(async () => {
  server = await startServer();
  api = server.api;
  for (let i = 0; i < 6; i++) echoIds.push(operationId(await submitAsync(api, "bgops_Echo", { Text: `early ${i}`, Number: i })));
  otherIds.push(operationId(await submitAsync(api, "bgops_Fail", { FailTimes: 0 })));
  // createdon has whole seconds: make the second batch strictly later.
  await sleep(1100);
  for (let i = 6; i < 12; i++) echoIds.push(operationId(await submitAsync(api, "bgops_Echo", { Text: `late ${i}`, Number: i })));
  otherIds.push(operationId(await submitAsync(api, "bgops_Fail", { FailTimes: 0 })));
  for (const id of [...echoIds, ...otherIds]) await waitForStatus(api, id);
});
after(async () => {
  if (server) await server.stop();
});

/** Keys a row carries, without the library's own additions and the annotations. */
function dataKeys(row) {
  return Object.keys(row)
    .filter((k) => !k.includes("@") && !k.startsWith("oData") && !k.endsWith("_Formatted") && !k.endsWith("_LogicalName") && !k.endsWith("_NavigationProperty"))
    .sort();
}

function inputNumber(row) {
  const params = JSON.parse(row.inputparameters);
  const p = params.find((kv) => kv.Key === "Number");
  return p ? Number(p.Value) : undefined;
}

test("retrieve of a backgroundoperations row with select and FormattedValue annotations", async () => {
  const id = echoIds[0];
  const row = await api.retrieve({
    collection: "backgroundoperations",
    key: id,
    select: ["name", "backgroundoperationstatecode", "backgroundoperationstatuscode", "outputparameters", "errorcode", "errormessage", "createdon"],
    includeAnnotations: FORMATTED,
  });
  assert.equal(row.backgroundoperationid, id);
  assert.equal(row.name, "bgops_Echo");
  assert.equal(row.backgroundoperationstatecode, 3);
  assert.equal(row.backgroundoperationstatecode_Formatted, "Completed");
  assert.equal(row.backgroundoperationstatuscode, 30);
  assert.equal(row.backgroundoperationstatuscode_Formatted, "Succeeded");
  assert.equal(row.errorcode, null);
  assert.equal(row.errormessage, null);
  assert.ok(row.createdon instanceof Date, `createdon parsed as a date: ${row.createdon}`);
  assert.equal(typeof row.createdon_Formatted, "string");
  assert.ok(row.createdon_Formatted.length > 0);

  const outputs = JSON.parse(row.outputparameters);
  assert.deepEqual(
    outputs.filter((kv) => kv.Key === "Text" || kv.Key === "Number").sort((a, b) => a.Key.localeCompare(b.Key)),
    [{ Key: "Number", Value: "0" }, { Key: "Text", Value: "early 0" }],
  );

  assert.equal(typeof row["@odata.etag"], "string");
  assert.match(row["@odata.etag"], /^W\/"/);
  assert.ok(row.oDataContext.startsWith(`${server.base}/api/data/v9.2/$metadata#backgroundoperations(`), row.oDataContext);
  assert.ok(row.oDataContext.endsWith("/$entity"), row.oDataContext);
  assert.deepEqual(
    dataKeys(row),
    ["backgroundoperationid", "backgroundoperationstatecode", "backgroundoperationstatuscode", "createdon", "errorcode", "errormessage", "name", "outputparameters", "versionnumber"],
  );
});

test("retrieve of a failed row labels it Failed and carries the signed errorcode", async () => {
  const id = operationId(await submitAsync(api, "bgops_Fail", { FailTimes: 10, Message: "labelled failure" }));
  await waitForStatus(api, id);
  const row = await api.retrieve({
    collection: "backgroundoperations",
    key: id,
    select: ["backgroundoperationstatecode", "backgroundoperationstatuscode", "errorcode", "errormessage", "retrycount"],
    includeAnnotations: FORMATTED,
  });
  assert.equal(row.backgroundoperationstatuscode, 31);
  assert.equal(row.backgroundoperationstatuscode_Formatted, "Failed");
  assert.equal(row.backgroundoperationstatecode_Formatted, "Completed");
  assert.equal(row.errorcode, -2147220891);
  assert.equal(row.errormessage, "labelled failure");
  assert.equal(row.retrycount, 3);
});

test("retrieveMultiple with select, filter, orderBy createdon desc and top", async () => {
  const page = await api.retrieveMultiple({
    collection: "backgroundoperations",
    select: ["name", "createdon", "inputparameters"],
    filter: "name eq 'bgops_Echo'",
    orderBy: ["createdon desc"],
    top: 3,
  });
  assert.equal(page.value.length, 3);
  assert.equal(page.oDataNextLink, undefined);
  assert.equal(page.oDataContext, `${server.base}/api/data/v9.2/$metadata#backgroundoperations(name,createdon,inputparameters)`);
  for (const row of page.value) {
    assert.equal(row.name, "bgops_Echo");
    assert.ok(echoIds.includes(row.backgroundoperationid));
    assert.ok(inputNumber(row) >= 6, `newest first: got the operation with Number ${inputNumber(row)}`);
  }
  for (let i = 1; i < page.value.length; i++) {
    assert.ok(page.value[i - 1].createdon >= page.value[i].createdon, "createdon descending");
  }

  const oldest = await api.retrieveMultiple({
    collection: "backgroundoperations",
    select: ["name", "createdon", "inputparameters"],
    filter: "name eq 'bgops_Echo'",
    orderBy: ["createdon asc"],
    top: 2,
  });
  assert.equal(oldest.value.length, 2);
  for (const row of oldest.value) assert.ok(inputNumber(row) < 6, `oldest first: got Number ${inputNumber(row)}`);
});

test("retrieveMultiple with count: true reports oDataCount", async () => {
  const all = await api.retrieveMultiple({
    collection: "backgroundoperations",
    select: ["name"],
    filter: "name eq 'bgops_Echo'",
    count: true,
  });
  assert.equal(all.oDataCount, echoIds.length);
  assert.equal(all.value.length, echoIds.length);
  assert.deepEqual(all.value.map((r) => r.backgroundoperationid).sort(), [...echoIds].sort());

  const others = await api.retrieveMultiple({
    collection: "backgroundoperations",
    select: ["name"],
    filter: "name ne 'bgops_Echo' and backgroundoperationstatuscode eq 30",
    count: true,
  });
  assert.equal(others.oDataCount, otherIds.length);
  assert.deepEqual(others.value.map((r) => r.backgroundoperationid).sort(), [...otherIds].sort());
});

test("count of backgroundoperations, with and without a filter", async () => {
  assert.equal(await api.count({ collection: "backgroundoperations", filter: "name eq 'bgops_Echo'" }), echoIds.length);
  const total = await api.count({ collection: "backgroundoperations" });
  assert.equal(typeof total, "number");
  assert.ok(total >= echoIds.length + otherIds.length, `total ${total}`);
});

test("retrieveMultiple with maxPageSize returns oDataNextLink and the next page follows it", async () => {
  const request = {
    collection: "backgroundoperations",
    select: ["name"],
    filter: "name eq 'bgops_Echo'",
    maxPageSize: 5,
  };
  const first = await api.retrieveMultiple(request);
  assert.equal(first.value.length, 5);
  assert.equal(typeof first.oDataNextLink, "string", "a first page of 5 out of 12 has a next link");
  assert.ok(first.oDataNextLink.startsWith(`${server.base}/api/data/v9.2/backgroundoperations?`), first.oDataNextLink);
  assert.match(first.oDataNextLink, /\$skiptoken=/);

  const second = await api.retrieveMultiple(request, first.oDataNextLink);
  assert.equal(second.value.length, 5);
  assert.equal(typeof second.oDataNextLink, "string");
  const third = await api.retrieveMultiple(request, second.oDataNextLink);
  assert.equal(third.value.length, 2);
  assert.equal(third.oDataNextLink, undefined);

  const ids = [...first.value, ...second.value, ...third.value].map((r) => r.backgroundoperationid);
  assert.deepEqual([...ids].sort(), [...echoIds].sort());
  for (const row of [...first.value, ...second.value, ...third.value]) assert.equal(row.name, "bgops_Echo");
});

test("retrieveAll with maxPageSize 5 returns every operation exactly once", async () => {
  const echoes = await api.retrieveAll({
    collection: "backgroundoperations",
    select: ["name"],
    filter: "name eq 'bgops_Echo'",
    maxPageSize: 5,
  });
  const ids = echoes.value.map((r) => r.backgroundoperationid);
  assert.equal(ids.length, 12);
  assert.equal(new Set(ids).size, ids.length, "no duplicates");
  assert.deepEqual([...ids].sort(), [...echoIds].sort());

  const everything = await api.retrieveAll({
    collection: "backgroundoperations",
    select: ["name", "createdon"],
    orderBy: ["createdon asc"],
    maxPageSize: 5,
  });
  const allIds = everything.value.map((r) => r.backgroundoperationid);
  assert.equal(new Set(allIds).size, allIds.length, "no duplicates across pages");
  for (const id of [...echoIds, ...otherIds]) {
    assert.equal(allIds.filter((x) => x === id).length, 1, `operation ${id} exactly once`);
  }
  for (const id of allIds) assert.match(id, GUID_RE);
  for (let i = 1; i < everything.value.length; i++) {
    assert.ok(everything.value[i - 1].createdon <= everything.value[i].createdon, "createdon ascending across pages");
  }
});
