"use strict";
// Cancelling background operations: the status monitor DELETE and the table PATCH form.
const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { startServer, waitForStatus, submitAsync, operationId, rejection } = require("./helpers");

const TERMINAL_CANCEL_MESSAGE = "Canceling background operation is not allowed after it is in terminal state.";

let server;
let api;
before(async () => {
  server = await startServer();
  api = server.api;
});
after(async () => {
  if (server) await server.stop();
});

const isRunning = (s) => s.backgroundOperationStateCode === 2 && s.backgroundOperationStatusCode === 20;

test("cancelBackgroundOperation on a running bgops_Delay answers 2/22 and the operation ends 3/32", async () => {
  const id = operationId(await submitAsync(api, "bgops_Delay", { DelayMs: 30000 }));
  await waitForStatus(api, id, isRunning);

  const started = Date.now();
  const answer = await api.cancelBackgroundOperation(id);
  assert.deepEqual(answer, { backgroundOperationStateCode: 2, backgroundOperationStatusCode: 22 });

  const final = await waitForStatus(api, id, undefined, 10000);
  assert.deepEqual(final, { backgroundOperationStateCode: 3, backgroundOperationStatusCode: 32 });
  assert.ok(Date.now() - started < 10000, "the delay stopped at once instead of sleeping 30 s");

  const row = await api.retrieve({
    collection: "backgroundoperations",
    key: id,
    select: ["backgroundoperationstatecode", "backgroundoperationstatuscode", "errorcode", "endtime"],
  });
  assert.equal(row.backgroundoperationstatecode, 3);
  assert.equal(row.backgroundoperationstatuscode, 32);
  assert.equal(row.errorcode, null);
  assert.ok(row.endtime instanceof Date, `endtime set on a terminal row: ${row.endtime}`);
});

test("cancelBackgroundOperation on a finished operation rejects with the terminal-state message", async () => {
  const id = operationId(await submitAsync(api, "bgops_Echo", { Text: "done" }));
  const final = await waitForStatus(api, id);
  assert.equal(final.backgroundOperationStatusCode, 30);

  const err = await rejection(() => api.cancelBackgroundOperation(id));
  assert.equal(err.message, TERMINAL_CANCEL_MESSAGE);
  assert.equal(err.status, 400);
  assert.equal(err.code, "0x80048408");

  // And the operation is untouched.
  const after = await api.getBackgroundOperationStatus(id);
  assert.equal(after.backgroundOperationStatusCode, 30);
});

test("update of a backgroundoperations row to 2/22 (If-Match: *) cancels a running operation", async () => {
  const id = operationId(await submitAsync(api, "bgops_Delay", { DelayMs: 30000 }));
  await waitForStatus(api, id, isRunning);

  const updated = await api.update({
    collection: "backgroundoperations",
    key: id,
    ifmatch: "*",
    data: { backgroundoperationstatecode: 2, backgroundoperationstatuscode: 22 },
  });
  assert.equal(updated, true, "204 No Content");

  const final = await waitForStatus(api, id, undefined, 10000);
  assert.deepEqual(final, { backgroundOperationStateCode: 3, backgroundOperationStatusCode: 32 });

  // A second cancel through the status monitor is refused: the operation is terminal.
  const err = await rejection(() => api.cancelBackgroundOperation(id));
  assert.equal(err.message, TERMINAL_CANCEL_MESSAGE);
});

test("update with If-Match: * of an unknown backgroundoperations row is 404, never an upsert", async () => {
  const unknown = "1a2b3c4d-0000-4000-8000-00000000abcd";
  const err = await rejection(() =>
    api.update({
      collection: "backgroundoperations",
      key: unknown,
      ifmatch: "*",
      data: { backgroundoperationstatecode: 2, backgroundoperationstatuscode: 22 },
    }),
  );
  assert.equal(err.status, 404);
  const err2 = await rejection(() => api.retrieve({ collection: "backgroundoperations", key: unknown, select: ["name"] }));
  assert.equal(err2.status, 404);
});

test("update of a backgroundoperations row with a stale etag is 412 (the library answers false)", async () => {
  const id = operationId(await submitAsync(api, "bgops_Delay", { DelayMs: 30000 }));
  try {
    await waitForStatus(api, id, isRunning);
    const row = await api.retrieve({ collection: "backgroundoperations", key: id, select: ["backgroundoperationstatuscode"] });
    assert.match(row["@odata.etag"], /^W\/"/);
    const stale = await api.update({
      collection: "backgroundoperations",
      key: id,
      ifmatch: 'W/"999999999"',
      data: { backgroundoperationstatecode: 2, backgroundoperationstatuscode: 22 },
    });
    assert.equal(stale, false, "412 Precondition Failed");
    const still = await api.getBackgroundOperationStatus(id);
    assert.equal(still.backgroundOperationStatusCode, 20, "not canceled by the refused update");
  } finally {
    await api.cancelBackgroundOperation(id).catch(() => {});
  }
});

test("update of a backgroundoperations row with any other state pair is refused", async () => {
  const id = operationId(await submitAsync(api, "bgops_Delay", { DelayMs: 30000 }));
  try {
    await waitForStatus(api, id, isRunning);
    const err = await rejection(() =>
      api.update({
        collection: "backgroundoperations",
        key: id,
        ifmatch: "*",
        data: { backgroundoperationstatecode: 3, backgroundoperationstatuscode: 30 },
      }),
    );
    assert.equal(err.status, 400);
    assert.equal(err.code, "0x80048408");
    const still = await api.getBackgroundOperationStatus(id);
    assert.deepEqual(
      { s: still.backgroundOperationStateCode, c: still.backgroundOperationStatusCode },
      { s: 2, c: 20 },
    );
  } finally {
    await api.cancelBackgroundOperation(id).catch(() => {});
  }
});
