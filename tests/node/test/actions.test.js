"use strict";
// Custom API calls (sync and respond-async), the status monitor and WhoAmI, through dynamics-web-api.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { startServer, waitForStatus, submitAsync, operationId, rejection, GUID_RE } = require("./helpers");

let server;
let api;
before(async () => {
  server = await startServer();
  api = server.api;
});
after(async () => {
  if (server) await server.stop();
});

test("callAction bgops_Echo synchronously returns the echoed properties", async () => {
  const result = await api.callAction({
    actionName: "bgops_Echo",
    action: { Text: "hello from node", Number: 42, Flag: true },
  });
  assert.equal(result.Text, "hello from node");
  assert.equal(result.Number, 42);
  assert.equal(result.Flag, true);
  assert.equal(result.oDataContext, `${server.base}/api/data/v9.2/$metadata#Microsoft.Dynamics.CRM.bgops_EchoResponse`);
});

test("callAction of a failing plug-in synchronously rejects with 400 and the plug-in's message", async () => {
  const err = await rejection(() =>
    api.callAction({ actionName: "bgops_Fail", action: { FailTimes: 1, Message: "sync failure from node" } }),
  );
  assert.equal(err.status, 400);
  assert.equal(err.code, "0x80040265");
  assert.equal(err.message, "sync failure from node");
});

test("callAction with respondAsync returns backgroundOperationId and location", async () => {
  const result = await submitAsync(api, "bgops_Echo", { Text: "async", Number: 7 });
  assert.equal(typeof result, "object", `respond-async result: ${JSON.stringify(result)}`);
  assert.match(result.backgroundOperationId, GUID_RE);
  assert.equal(result.location, `${server.base}/api/backgroundoperation/${result.backgroundOperationId}`);
  assert.equal(operationId(result), result.backgroundOperationId);
});

test("getBackgroundOperationStatus polls an Echo until 3/30 with its outputs", async () => {
  const id = operationId(await submitAsync(api, "bgops_Echo", { Text: "polled", Number: -5, Flag: false }));
  const status = await waitForStatus(api, id);
  assert.deepEqual(status, {
    backgroundOperationStateCode: 3,
    backgroundOperationStatusCode: 30,
    Text: "polled",
    Number: -5,
    Flag: false,
  });
});

test("getBackgroundOperationStatus of bgops_Fail with FailTimes 10 ends 3/31 with the plug-in error", async () => {
  const id = operationId(await submitAsync(api, "bgops_Fail", { FailTimes: 10, Message: "always fails" }));
  const status = await waitForStatus(api, id);
  assert.equal(status.backgroundOperationStateCode, 3);
  assert.equal(status.backgroundOperationStatusCode, 31);
  assert.equal(status.backgroundOperationErrorCode, -2147220891);
  assert.equal(status.backgroundOperationErrorMessage, "always fails");
  assert.equal(status.Attempts, undefined, "no outputs on a failed operation");
});

test("getBackgroundOperationStatus of bgops_Fail that recovers ends 3/30 with Attempts", async () => {
  const id = operationId(await submitAsync(api, "bgops_Fail", { FailTimes: 2 }));
  const status = await waitForStatus(api, id);
  assert.deepEqual(status, { backgroundOperationStateCode: 3, backgroundOperationStatusCode: 30, Attempts: 3 });
});

test("getBackgroundOperationStatus of an unknown id rejects with 404", async () => {
  const unknown = "0f0e0d0c-0b0a-4909-8807-060504030201";
  const err = await rejection(() => api.getBackgroundOperationStatus(unknown));
  assert.equal(err.status, 404);
  assert.equal(err.code, "0x80040217");
  assert.equal(err.message, `Could not find item '${unknown}'.`);
});

test('callFunction("WhoAmI") returns UserId and BusinessUnitId', async () => {
  const who = await api.callFunction("WhoAmI");
  assert.match(who.UserId, GUID_RE);
  assert.match(who.BusinessUnitId, GUID_RE);
  assert.match(who.OrganizationId, GUID_RE);
  const again = await api.callFunction({ name: "WhoAmI" });
  assert.equal(again.UserId, who.UserId);
});
