"use strict";
// dynamics-web-api's own metadata calls (retrieveEntity, retrieveAttributes with and without a
// cast type, retrieveAttribute), then a row created from what they answered (SPEC §6).
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

const label = (option) => option.Label.UserLocalizedLabel.Label;

test("retrieveEntity: a table by LogicalName, with its attributes expanded", async () => {
  const entity = await api.retrieveEntity({
    key: "LogicalName='account'",
    select: ["LogicalName", "EntitySetName", "PrimaryIdAttribute", "PrimaryNameAttribute"],
    expand: [{ property: "Attributes", select: ["LogicalName"] }],
  });
  assert.equal(entity.LogicalName, "account");
  assert.equal(entity.EntitySetName, "accounts");
  assert.equal(entity.PrimaryIdAttribute, "accountid");
  assert.equal(entity.PrimaryNameAttribute, "name");
  const names = entity.Attributes.map((a) => a.LogicalName);
  assert.ok(names.includes("name") && names.includes("industrycode"), JSON.stringify(names));

  const byId = await api.retrieveEntity({ key: entity.MetadataId, select: ["LogicalName"] });
  assert.equal(byId.LogicalName, "account");

  const err = await rejection(() => api.retrieveEntity({ key: "LogicalName='nosuchtable'" }));
  assert.equal(err.status, 404);
});

test("retrieveAttributes: every column, then filtered", async () => {
  const all = await api.retrieveAttributes({ entityKey: "LogicalName='account'" });
  const name = all.value.find((a) => a.LogicalName === "name");
  assert.equal(name.AttributeType, "String");
  assert.deepEqual(name.AttributeTypeName, { Value: "StringType" });
  assert.equal(name.MaxLength, 160);
  assert.equal(name.IsPrimaryName, true);
  assert.equal(name.IsValidForCreate, true);
  assert.equal(name.RequiredLevel.Value, "ApplicationRequired");
  const id = all.value.find((a) => a.IsPrimaryId);
  assert.equal(id.LogicalName, "accountid");
  const contact = all.value.find((a) => a.LogicalName === "primarycontactid");
  assert.deepEqual(contact.Targets, ["contact"]);

  const filtered = await api.retrieveAttributes({
    entityKey: "LogicalName='account'",
    select: ["LogicalName"],
    filter: "AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'",
  });
  assert.deepEqual(filtered.value.map((a) => a.LogicalName), ["industrycode"]);
});

test("retrieveAttributes with a cast type: choice, state, status and boolean option sets", async () => {
  const picklists = await api.retrieveAttributes({
    entityKey: "LogicalName='account'",
    castType: "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
    select: ["LogicalName"],
    expand: [{ property: "OptionSet", select: ["Options"] }],
  });
  assert.deepEqual(picklists.value.map((a) => a.LogicalName), ["industrycode"]);
  const options = picklists.value[0].OptionSet.Options;
  assert.equal(options[0].Value, 1);
  assert.equal(label(options[0]), "Accounting");

  const states = await api.retrieveAttributes({
    entityKey: "LogicalName='backgroundoperation'",
    castType: "Microsoft.Dynamics.CRM.StateAttributeMetadata",
    select: ["LogicalName"],
    expand: [{ property: "OptionSet" }],
  });
  assert.deepEqual(
    states.value[0].OptionSet.Options.map((o) => [o.Value, label(o)]),
    [[0, "Ready"], [2, "Locked"], [3, "Completed"]],
  );
  const statuses = await api.retrieveAttributes({
    entityKey: "LogicalName='asyncoperation'",
    castType: "Microsoft.Dynamics.CRM.StatusAttributeMetadata",
    select: ["LogicalName"],
    expand: [{ property: "OptionSet", select: ["Options"] }],
  });
  assert.deepEqual(statuses.value[0].OptionSet.Options.map((o) => o.Value), [0, 10, 20, 21, 22, 30, 31, 32]);

  const booleans = await api.retrieveAttributes({
    entityKey: "LogicalName='account'",
    castType: "Microsoft.Dynamics.CRM.BooleanAttributeMetadata",
    select: ["LogicalName"],
    expand: [{ property: "OptionSet" }],
  });
  assert.deepEqual(booleans.value.map((a) => a.LogicalName), ["creditonhold"]);
  assert.equal(label(booleans.value[0].OptionSet.TrueOption), "Yes");

  const none = await api.retrieveAttributes({
    entityKey: "LogicalName='role'",
    castType: "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
    expand: [{ property: "OptionSet", select: ["Options"] }],
  });
  assert.deepEqual(none.value, []);
});

test("retrieveAttribute: one column, with and without a cast; unknown ones are 404", async () => {
  const name = await api.retrieveAttribute({ entityKey: "LogicalName='account'", attributeKey: "LogicalName='name'" });
  assert.equal(name.LogicalName, "name");
  assert.equal(name.MaxLength, 160);
  assert.match(name.MetadataId, GUID_RE);

  const byId = await api.retrieveAttribute({
    entityKey: "LogicalName='account'",
    attributeKey: name.MetadataId,
    select: ["LogicalName"],
  });
  assert.equal(byId.LogicalName, "name");

  const industry = await api.retrieveAttribute({
    entityKey: "LogicalName='account'",
    attributeKey: "LogicalName='industrycode'",
    castType: "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
    select: ["LogicalName"],
    expand: [{ property: "OptionSet", select: ["Options"] }],
  });
  assert.equal(industry.OptionSet.Options.length, 33);

  const missing = await rejection(() =>
    api.retrieveAttribute({ entityKey: "LogicalName='account'", attributeKey: "LogicalName='nosuchcolumn'" }),
  );
  assert.equal(missing.status, 404);
  const badCast = await rejection(() =>
    api.retrieveAttributes({ entityKey: "LogicalName='account'", castType: "Microsoft.Dynamics.CRM.NoSuchAttributeMetadata" }),
  );
  assert.equal(badCast.status, 404);
  assert.equal(badCast.code, "0x8006088a");
});

test("a row created from what the metadata calls answered", async () => {
  const entity = await api.retrieveEntity({ key: "LogicalName='account'", select: ["EntitySetName", "PrimaryIdAttribute"] });
  const attributes = await api.retrieveAttributes({
    entityKey: "LogicalName='account'",
    select: ["LogicalName", "AttributeType", "IsValidForCreate", "RequiredLevel", "MaxLength"],
  });
  const byName = Object.fromEntries(attributes.value.map((a) => [a.LogicalName, a]));
  const industry = await api.retrieveAttribute({
    entityKey: "LogicalName='account'",
    attributeKey: "LogicalName='industrycode'",
    castType: "Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
    expand: [{ property: "OptionSet", select: ["Options"] }],
  });
  const consulting = industry.OptionSet.Options.find((o) => label(o) === "Consulting");

  // Every required column, writable on create, within its length.
  const data = {};
  for (const a of attributes.value) {
    if (a.RequiredLevel.Value === "ApplicationRequired") {
      assert.equal(a.IsValidForCreate, true, a.LogicalName);
      assert.equal(a.AttributeType, "String", a.LogicalName);
      data[a.LogicalName] = "Metadata Driven Ltd".slice(0, a.MaxLength);
    }
  }
  assert.deepEqual(Object.keys(data), ["name"]);
  assert.equal(byName.industrycode.IsValidForCreate, true);
  data.industrycode = consulting.Value;

  const created = await api.create({ collection: entity.EntitySetName, data, returnRepresentation: true });
  const id = created[entity.PrimaryIdAttribute];
  assert.match(id, GUID_RE);
  const read = await api.retrieve({
    collection: entity.EntitySetName,
    key: id,
    select: ["name", "industrycode"],
    includeAnnotations: "OData.Community.Display.V1.FormattedValue",
  });
  assert.equal(read.name, "Metadata Driven Ltd");
  assert.equal(read.industrycode, consulting.Value);
  assert.equal(read["industrycode@OData.Community.Display.V1.FormattedValue"], "Consulting");
  await api.deleteRecord({ collection: entity.EntitySetName, key: id });
});
