"use strict";
// Create / retrieve / update / delete of ordinary tables (accounts, annotations) through dynamics-web-api.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { startServer, rejection, GUID_RE } = require("./helpers");

let server;
let api;
before(async () => {
  server = await startServer();
  api = server.api;
});
after(async () => {
  if (server) await server.stop();
});

test("a fresh database holds a few demo accounts (SPEC §1)", async () => {
  const page = await api.retrieveMultiple({ collection: "accounts", select: ["name"], count: true });
  assert.ok(page.value.length > 0, "no account rows in a fresh database");
  assert.equal(page.oDataCount, page.value.length);
});

test("accounts: create with returnRepresentation, retrieve, update, deleteRecord, then 404", async () => {
  const created = await api.create({
    collection: "accounts",
    data: { name: "Node Suite Ltd", revenue: 12345.5, numberofemployees: 42 },
    returnRepresentation: true,
  });
  assert.equal(typeof created, "object", `representation: ${JSON.stringify(created)}`);
  assert.match(created.accountid, GUID_RE);
  assert.equal(created.name, "Node Suite Ltd");
  assert.equal(created.revenue, 12345.5);
  assert.equal(created.numberofemployees, 42);
  assert.equal(typeof created["@odata.etag"], "string");
  const id = created.accountid;

  const read = await api.retrieve({ collection: "accounts", key: id, select: ["name", "revenue", "numberofemployees"] });
  assert.equal(read.accountid, id);
  assert.equal(read.name, "Node Suite Ltd");
  assert.equal(read.revenue, 12345.5);
  assert.equal(read.numberofemployees, 42);
  assert.ok(read.oDataContext.endsWith("/$entity"), read.oDataContext);

  const updated = await api.update({
    collection: "accounts",
    key: id,
    data: { name: "Node Suite Renamed", numberofemployees: 43 },
  });
  assert.equal(updated, true);

  const reread = await api.retrieve({ collection: "accounts", key: id, select: ["name", "revenue", "numberofemployees"] });
  assert.equal(reread.name, "Node Suite Renamed");
  assert.equal(reread.numberofemployees, 43);
  assert.equal(reread.revenue, 12345.5, "untouched column kept");
  assert.notEqual(reread["@odata.etag"], read["@odata.etag"], "etag changes on update");

  const deleted = await api.deleteRecord({ collection: "accounts", key: id });
  assert.equal(deleted, true);

  const err = await rejection(() => api.retrieve({ collection: "accounts", key: id, select: ["name"] }));
  assert.equal(err.status, 404);
  assert.equal(err.code, "0x80040217");
});

test("accounts: create without returnRepresentation returns the new id (OData-EntityId)", async () => {
  const id = await api.create({ collection: "accounts", data: { name: "Id Only Inc", numberofemployees: 3 } });
  assert.match(id, GUID_RE);
  const read = await api.retrieve({ collection: "accounts", key: id, select: ["name", "numberofemployees"] });
  assert.equal(read.name, "Id Only Inc");
  assert.equal(read.numberofemployees, 3);
  await api.deleteRecord({ collection: "accounts", key: id });
});

test("accounts: retrieveMultiple filters what was created", async () => {
  const ids = [];
  for (const [name, n] of [["Filter Alpha", 10], ["Filter Beta", 20], ["Filter Gamma", 30]]) {
    ids.push(await api.create({ collection: "accounts", data: { name, numberofemployees: n } }));
  }
  try {
    const page = await api.retrieveMultiple({
      collection: "accounts",
      select: ["name", "numberofemployees"],
      filter: "startswith(name,'Filter ') and numberofemployees ge 20",
      orderBy: ["numberofemployees desc"],
      count: true,
    });
    assert.deepEqual(page.value.map((r) => r.name), ["Filter Gamma", "Filter Beta"]);
    assert.equal(page.oDataCount, 2);
  } finally {
    for (const id of ids) await api.deleteRecord({ collection: "accounts", key: id });
  }
});

test("annotations: create bound to an account, retrieve, update, deleteRecord, then 404", async () => {
  const accountId = await api.create({ collection: "accounts", data: { name: "Annotated Account" } });
  const body = Buffer.from("hello,world\r\n\"a\",\"b\"\r\n", "utf8").toString("base64");

  const created = await api.create({
    collection: "annotations",
    data: {
      subject: "Node suite note",
      filename: "note.csv",
      mimetype: "text/csv",
      documentbody: body,
      "objectid_account@odata.bind": `/accounts(${accountId})`,
    },
    returnRepresentation: true,
  });
  assert.equal(typeof created, "object", `representation: ${JSON.stringify(created)}`);
  assert.match(created.annotationid, GUID_RE);
  assert.equal(created.subject, "Node suite note");
  assert.equal(created.filename, "note.csv");
  assert.equal(created.mimetype, "text/csv");
  assert.equal(created.documentbody, body);
  const id = created.annotationid;

  const read = await api.retrieve({
    collection: "annotations",
    key: id,
    select: ["subject", "filename", "mimetype", "documentbody", "_objectid_value"],
  });
  assert.equal(read.subject, "Node suite note");
  assert.equal(read.filename, "note.csv");
  assert.equal(read.mimetype, "text/csv");
  assert.equal(Buffer.from(read.documentbody, "base64").toString("utf8"), "hello,world\r\n\"a\",\"b\"\r\n");
  assert.equal(read._objectid_value, accountId);

  const newBody = Buffer.from("replaced", "utf8").toString("base64");
  assert.equal(await api.update({ collection: "annotations", key: id, data: { subject: "Node suite note v2", documentbody: newBody } }), true);
  const reread = await api.retrieve({ collection: "annotations", key: id, select: ["subject", "documentbody", "filename"] });
  assert.equal(reread.subject, "Node suite note v2");
  assert.equal(reread.documentbody, newBody);
  assert.equal(reread.filename, "note.csv");

  assert.equal(await api.deleteRecord({ collection: "annotations", key: id }), true);
  const err = await rejection(() => api.retrieve({ collection: "annotations", key: id, select: ["subject"] }));
  assert.equal(err.status, 404);

  await api.deleteRecord({ collection: "accounts", key: accountId });
});

test(
  "annotations: binding the regarding lookup to a missing account is refused with 404",
  async () => {
    const missing = "00000000-0000-4000-8000-0000000000aa";
    const before = await api.count({ collection: "annotations" });
    const err = await rejection(() =>
      api.create({
        collection: "annotations",
        data: { subject: "dangling", "objectid_account@odata.bind": `/accounts(${missing})` },
      }),
    );
    assert.equal(err.status, 404);
    assert.equal(err.code, "0x80040217");
    assert.match(err.message, new RegExp(`account With Id = ${missing} Does Not Exist`));
    assert.equal(await api.count({ collection: "annotations" }), before, "no row created");
  },
);

test("annotations: the regarding lookup carries FormattedValue and lookuplogicalname annotations", async () => {
  const accountId = await api.create({ collection: "accounts", data: { name: "Lookup Target" } });
  const id = await api.create({
    collection: "annotations",
    data: { subject: "lookup check", "objectid_account@odata.bind": `/accounts(${accountId})` },
  });
  try {
    const row = await api.retrieve({
      collection: "annotations",
      key: id,
      select: ["subject", "_objectid_value"],
      includeAnnotations: "*",
    });
    assert.equal(row._objectid_value, accountId);
    assert.equal(row._objectid_value_Formatted, "Lookup Target");
    assert.equal(row._objectid_value_LogicalName, "account");
  } finally {
    await api.deleteRecord({ collection: "annotations", key: id }).catch(() => {});
    await api.deleteRecord({ collection: "accounts", key: accountId }).catch(() => {});
  }
});
