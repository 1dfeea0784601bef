"use strict";
// The dashboard in a real browser: Debian's Chromium, headless, driven by playwright-core,
// against the real bgops binary on a throw-away SQLite file. Signs in, reads the overview,
// filters the list (the filter lives in the URL), opens an operation, cancels it and watches it
// change without a reload; checks the Content-Security-Policy holds (no violation, no script
// error), follows changes live, cancels by filter, resubmits, shows charts, definitions and steps,
// checks contrast, labels and keyboard use in both themes, and that --dashboard read-only hides
// and refuses the actions. A failing test leaves a screenshot in tests/dashboard/artifacts/.

const { test, before, after } = require("node:test");
const assert = require("node:assert/strict");
const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { chromium } = require("playwright-core");

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
// The binary `cargo build` made: $BGOPS_BIN, else under $CARGO_TARGET_DIR, else ./target.
const BINARY = process.env.BGOPS_BIN
  || path.join(process.env.CARGO_TARGET_DIR || path.join(REPO_ROOT, "target"), "debug", "bgops");
const CHROMIUM = process.env.CHROMIUM || "/usr/bin/chromium";
const ARTIFACTS = path.join(__dirname, "..", "artifacts");
const TOKEN = "dashboard-suite-admin-token";

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/** Starts `bgops serve` with `extra` flags; resolves to { base, stop() } once it listens. */
async function startServer(extra = []) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bgops-dashboard-"));
  const args = [
    "serve", "--listen", "127.0.0.1:0",
    "--database", `sqlite://${path.join(dir, "bgops.db")}`,
    "--admin-token", TOKEN, "--demo-data", "false", ...extra,
  ];
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("BGOPS_")) delete env[name];
  const child = spawn(BINARY, args, { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (c) => { stderr = (stderr + c).slice(-50000); });
  const base = await new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`bgops did not start:\n${stderr}`)), 20000);
    readline.createInterface({ input: child.stdout }).on("line", (line) => {
      const m = /^bgops listening on (http:\/\/127\.0\.0\.1:\d+)\s*$/.exec(line);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
  return {
    base,
    stop: () => { child.kill("SIGKILL"); fs.rmSync(dir, { recursive: true, force: true }); },
  };
}

/** A Web API call with the admin key. */
async function call(base, method, urlPath, body, headers = {}) {
  const resp = await fetch(base + urlPath, {
    method,
    headers: { Authorization: `Bearer ${TOKEN}`, "Content-Type": "application/json", ...headers },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await resp.text();
  return { status: resp.status, headers: resp.headers, body: text ? JSON.parse(text) : null };
}

async function submit(base, api, params) {
  const r = await call(base, "POST", `/api/data/v9.2/${api}`, params, { Prefer: "respond-async" });
  assert.equal(r.status, 202);
  return r.headers.get("x-ms-dyn-backgroundoperationid");
}

async function waitStatus(base, id, status) {
  for (let i = 0; i < 400; i++) {
    const r = await call(base, "GET", `/api/backgroundoperation/${id}`);
    if (r.body.backgroundOperationStatusCode === status) return;
    await sleep(25);
  }
  throw new Error(`operation ${id} never reached status ${status}`);
}

let browser;
before(async () => {
  fs.rmSync(ARTIFACTS, { recursive: true, force: true });
  browser = await chromium.launch({ executablePath: CHROMIUM, args: ["--no-sandbox"] });
});
after(async () => { await browser?.close(); });

/** A fresh page that records console errors, page errors and CSP violations. */
async function newPage() {
  const context = await browser.newContext();
  const page = await context.newPage();
  page.problems = [];
  // Script errors and CSP violations; an HTTP error answer the app handles (a refused key) is
  // logged by Chromium as "Failed to load resource" and is no problem.
  page.on("console", (m) => {
    if (m.type() === "error" && !m.text().startsWith("Failed to load resource")) page.problems.push(m.text());
  });
  page.on("pageerror", (e) => page.problems.push(String(e)));
  return page;
}

/** Runs `body(page)`; on failure keeps a screenshot named after the test. */
async function withPage(name, body) {
  const page = await newPage();
  try {
    await body(page);
  } catch (err) {
    fs.mkdirSync(ARTIFACTS, { recursive: true });
    await page.screenshot({ path: path.join(ARTIFACTS, `${name}.png`), fullPage: true }).catch(() => {});
    throw err;
  } finally {
    await page.context().close();
  }
}

async function signIn(page, base) {
  await page.goto(`${base}/`);
  await page.getByLabel("API key").fill(TOKEN);
  await page.getByRole("button", { name: "Sign in" }).click();
  await page.getByRole("heading", { name: "Overview" }).waitFor();
}

test("sign in, overview, filter, open an operation, cancel it and watch it change", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    const echoes = [];
    for (let i = 0; i < 3; i++) echoes.push(await submit(base, "bgops_Echo", { Text: `e${i}` }));
    for (const id of echoes) await waitStatus(base, id, 30);
    const long = await submit(base, "bgops_Delay", { DelayMs: 600000 });
    await waitStatus(base, long, 20);

    await withPage("cancel-flow", async (page) => {
      // A wrong key is refused, the right one accepted.
      await page.goto(`${base}/`);
      assert.match(page.url(), /\/ui\/$/);
      await page.getByLabel("API key").fill("not-the-key");
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("alert").filter({ hasText: "not accepted" }).waitFor();
      await page.getByLabel("API key").fill(TOKEN);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: "Overview" }).waitFor();
      assert.equal(await page.evaluate(() => sessionStorage.getItem("bgops.token")), TOKEN);

      // The overview counts come from the shared summary.
      assert.equal((await page.getByTestId("count-20").locator(".n").textContent()).trim(), "1");
      assert.equal((await page.getByTestId("count-0").locator(".n").textContent()).trim(), "0");

      // Its card opens the list filtered by status; the filter is in the URL.
      await page.getByTestId("count-20").click();
      await page.getByRole("heading", { name: "Operations" }).waitFor();
      assert.match(page.url(), /\/ui\/operations\?status=20$/);
      const rows = page.locator("tbody tr");
      await rows.filter({ hasText: "bgops_Delay" }).waitFor();
      assert.equal(await rows.count(), 1);

      // The same filter typed in the form, shared by URL: Succeeded echoes only.
      await page.getByLabel("Status").selectOption("30");
      await page.getByLabel("Custom API").fill("bgops_Echo");
      await page.getByRole("button", { name: "Filter" }).click();
      await page.waitForURL(/status=30&name=bgops_Echo/);
      await page.locator("tbody tr").filter({ hasText: "bgops_Echo" }).nth(2).waitFor();
      assert.equal(await page.locator("tbody tr").count(), 3);
      await page.reload();
      await page.locator("tbody tr").filter({ hasText: "bgops_Echo" }).nth(2).waitFor();
      assert.equal(await page.getByLabel("Status").inputValue(), "30");

      // Open the long operation and cancel it; the page follows without a reload.
      await page.goto(`${base}/ui/operations/${long}`);
      await page.getByTestId("status").filter({ hasText: "In Progress" }).waitFor();
      page.once("dialog", (d) => d.accept());
      await page.getByRole("button", { name: "Cancel" }).click();
      await page.getByTestId("status").filter({ hasText: "Canceled" }).waitFor({ timeout: 15000 });
      assert.equal(await page.getByRole("button", { name: "Cancel" }).isVisible(), false);
      assert.deepEqual(page.problems, [], "no script error and no CSP violation");
    });
    const r = await call(base, "GET", `/api/backgroundoperation/${long}`);
    assert.equal(r.body.backgroundOperationStatusCode, 32);
  } finally {
    server.stop();
  }
});

test("an operation canceled elsewhere changes on its open page", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    const long = await submit(base, "bgops_Delay", { DelayMs: 600000 });
    await waitStatus(base, long, 20);
    await withPage("live", async (page) => {
      await signIn(page, base);
      await page.goto(`${base}/ui/operations/${long}`);
      await page.getByTestId("status").filter({ hasText: "In Progress" }).waitFor();
      const r = await call(base, "DELETE", `/api/backgroundoperation/${long}`);
      assert.equal(r.status, 200);
      await page.getByTestId("status").filter({ hasText: "Canceled" }).waitFor({ timeout: 15000 });
    });
  } finally {
    server.stop();
  }
});

test("the list and the overview follow changes without a reload", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    await withPage("live-list", async (page) => {
      await signIn(page, base);
      await page.goto(`${base}/ui/operations`);
      await page.getByRole("heading", { name: "Operations" }).waitFor();
      await page.locator("tbody tr").filter({ hasText: "No operations." }).waitFor();
      // Marks this document: a reload would lose it.
      await page.evaluate(() => { window.notReloaded = true; });

      const long = await submit(base, "bgops_Delay", { DelayMs: 600000 });
      const row = page.locator(`tr[data-id="${long}"]`);
      await row.waitFor({ timeout: 15000 });
      await row.locator("[data-col=status]").filter({ hasText: "In Progress" }).waitFor({ timeout: 15000 });
      assert.equal(await call(base, "DELETE", `/api/backgroundoperation/${long}`).then((r) => r.status), 200);
      await row.locator("[data-col=status]").filter({ hasText: "Canceled" }).waitFor({ timeout: 15000 });
      assert.equal(await page.evaluate(() => window.notReloaded), true, "no reload");

      // The overview's counts follow too.
      await page.getByRole("link", { name: "Overview" }).click();
      await page.getByRole("heading", { name: "Overview" }).waitFor();
      await page.evaluate(() => { window.notReloaded = true; });
      assert.equal((await page.getByTestId("count-20").locator(".n").textContent()).trim(), "0");
      const next = await submit(base, "bgops_Delay", { DelayMs: 600000 });
      await waitStatus(base, next, 20);
      await page.getByTestId("count-20").locator(".n").filter({ hasText: /^1$/ }).waitFor({ timeout: 20000 });
      assert.equal(await page.evaluate(() => window.notReloaded), true, "no reload");
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
  }
});

test("the stream of changes is open only while the page is visible", async () => {
  // One stream slot: while the page holds it, another stream is refused (429).
  const server = await startServer(["--max-event-streams", "1"]);
  const { base } = server;
  /** The status of a stream opened now (closed at once). */
  const tryStream = async () => {
    const ctrl = new AbortController();
    const resp = await fetch(`${base}/api/events`, {
      headers: { Authorization: `Bearer ${TOKEN}`, Accept: "text/event-stream" },
      signal: ctrl.signal,
    });
    ctrl.abort();
    return resp.status;
  };
  const waitStream = async (status) => {
    for (let i = 0; i < 200; i++) {
      if ((await tryStream()) === status) return;
      await sleep(50);
    }
    throw new Error(`a stream never answered ${status}`);
  };
  const setHidden = (page, hidden) => page.evaluate((hidden) => {
    Object.defineProperty(document, "hidden", { configurable: true, get: () => hidden });
    document.dispatchEvent(new Event("visibilitychange"));
  }, hidden);
  try {
    await withPage("live-hidden", async (page) => {
      await signIn(page, base);
      await page.goto(`${base}/ui/operations`);
      await page.getByRole("heading", { name: "Operations" }).waitFor();
      await waitStream(429);
      await setHidden(page, true);
      await waitStream(200);
      const long = await submit(base, "bgops_Delay", { DelayMs: 600000 });
      await waitStatus(base, long, 20);
      await sleep(1500);
      assert.equal(await page.locator(`tr[data-id="${long}"]`).count(), 0, "no reads while hidden");
      // Visible again: the list reads afresh and holds the stream again.
      await setHidden(page, false);
      await page.locator(`tr[data-id="${long}"]`).waitFor({ timeout: 15000 });
      await waitStream(429);
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
  }
});

test("cancel every operation a filter selects, after a confirmation showing the count", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    const longs = [];
    for (let i = 0; i < 3; i++) longs.push(await submit(base, "bgops_Delay", { DelayMs: 600000 }));
    const echo = await submit(base, "bgops_Echo", { Text: "stays" });
    await waitStatus(base, echo, 30);
    await withPage("bulk-cancel", async (page) => {
      await signIn(page, base);
      await page.goto(`${base}/ui/operations?name=bgops_Delay`);
      await page.locator("tbody tr").filter({ hasText: "bgops_Delay" }).nth(2).waitFor();

      // Kept: nothing happens.
      await page.getByRole("button", { name: "Cancel all matching…" }).click();
      const dialog = page.getByRole("dialog");
      await dialog.getByRole("heading", { name: "Cancel 3 operations matching this filter?" }).waitFor();
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      for (const id of longs) {
        assert.notEqual((await call(base, "GET", `/api/backgroundoperation/${id}`)).body.backgroundOperationStatusCode, 32);
      }

      // Confirmed: the three are canceled on the server, the echo is untouched.
      await page.getByRole("button", { name: "Cancel all matching…" }).click();
      await dialog.getByRole("button", { name: "Cancel 3" }).click();
      await page.getByTestId("bulk-note").filter({ hasText: "Cancellation requested for 3 operations." }).waitFor();
      for (const id of longs) await waitStatus(base, id, 32);
      await page.locator("tbody tr [data-col=status]").filter({ hasText: "Canceled" }).nth(2).waitFor({ timeout: 15000 });
      assert.equal((await call(base, "GET", `/api/backgroundoperation/${echo}`)).body.backgroundOperationStatusCode, 30);
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
  }
});

test("resubmit a finished operation: a new one with the same inputs, linked", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    const first = await submit(base, "bgops_Echo", { Text: "once more" });
    await waitStatus(base, first, 30);
    await withPage("resubmit", async (page) => {
      await signIn(page, base);
      await page.goto(`${base}/ui/operations/${first}`);
      await page.getByTestId("status").filter({ hasText: "Succeeded" }).waitFor();
      assert.equal(await page.getByRole("button", { name: "Cancel" }).isVisible(), false);
      await page.getByRole("button", { name: "Resubmit" }).click();
      await page.waitForURL(new RegExp(`/ui/operations/[0-9a-f-]{36}\\?resubmittedFrom=${first}$`));
      const id = /operations\/([0-9a-f-]{36})/.exec(page.url())[1];
      assert.notEqual(id, first);
      await page.getByTestId("resubmitted-from").getByRole("link", { name: first }).waitFor();
      await waitStatus(base, id, 30);
      const r = await call(base, "GET", `/api/backgroundoperation/${id}`);
      assert.equal(r.body.Text, "once more");
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
  }
});

test("list filters live in the URL: created between, run-as user, error code, order", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    const first = await submit(base, "bgops_Echo", { Text: "first" });
    await waitStatus(base, first, 30);
    const failed = await submit(base, "bgops_Fail", { FailTimes: 5, Permanent: true, ErrorCode: 0x80040265 | 0 });
    await waitStatus(base, failed, 31);
    const last = await submit(base, "bgops_Echo", { Text: "last" });
    await waitStatus(base, last, 30);
    const me = (await call(base, "GET", "/api/data/v9.2/WhoAmI()")).body.UserId;
    const rows = (page) => page.locator("tbody tr[data-id]");
    const ids = (page) => rows(page).evaluateAll((trs) => trs.map((tr) => tr.dataset.id));
    await withPage("list-filters", async (page) => {
      await signIn(page, base);
      await page.goto(`${base}/ui/operations`);
      await rows(page).nth(2).waitFor();
      assert.deepEqual(await ids(page), [last, failed, first], "newest first");

      // The form writes every filter into the URL.
      await page.getByLabel("Error code").fill("0x80040265");
      await page.getByLabel("Run as user").fill(me);
      await page.getByLabel("Order").selectOption("oldest");
      await page.getByRole("button", { name: "Filter" }).click();
      await page.waitForURL(/error=0x80040265/);
      const url = new URL(page.url());
      assert.equal(url.searchParams.get("runas"), me);
      assert.equal(url.searchParams.get("sort"), "oldest");
      // The filtered view replaced the list (its caption names the order).
      await page.locator("caption").filter({ hasText: "Oldest first" }).waitFor();
      await page.locator(`tr[data-id="${failed}"]`).waitFor();
      assert.deepEqual(await ids(page), [failed]);
      assert.equal(await page.locator(`tr[data-id="${failed}"] [data-col=error]`).textContent(), "0x80040265");

      // A shared URL: oldest first, created in the last hour, by this user.
      const from = new Date(Date.now() - 3600_000).toISOString();
      await page.goto(`${base}/ui/operations?${new URLSearchParams({ from, runas: me, sort: "oldest" })}`);
      await rows(page).nth(2).waitFor();
      assert.deepEqual(await ids(page), [first, failed, last], "oldest first");
      assert.equal(await page.getByLabel("Order").inputValue(), "oldest");
      assert.notEqual(await page.getByLabel("Created from").inputValue(), "");

      // Nothing was created in the future, nor run by another user.
      const future = new Date(Date.now() + 3600_000).toISOString();
      await page.goto(`${base}/ui/operations?${new URLSearchParams({ from: future })}`);
      await page.locator("tbody tr").filter({ hasText: "No operations." }).waitFor();
      await page.goto(`${base}/ui/operations?runas=00000000-0000-0000-0000-00000000abcd`);
      await page.locator("tbody tr").filter({ hasText: "No operations." }).waitFor();
      await page.goto(`${base}/ui/operations?${new URLSearchParams({ to: future })}`);
      await rows(page).nth(2).waitFor();
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
  }
});

test("custom APIs with their parameters; webhooks, steps and their recent failures", async () => {
  const server = await startServer(["--callback-allow-http", "--callback-allow-private",
    "--retry-base-delay", "20ms"]);
  const { base } = server;
  try {
    // A webhook nobody listens at (a closed loopback port): its system jobs fail.
    const ep = await call(base, "POST", "/api/data/v9.2/serviceendpoints", {
      name: "dead hook", url: "http://127.0.0.1:9/hook", contract: 8, authtype: 4, authvalue: "k",
    });
    assert.equal(ep.status, 204);
    const endpointId = /\(([0-9a-f-]{36})\)/.exec(ep.headers.get("odata-entityid"))[1];
    const st = await call(base, "POST", "/api/data/v9.2/sdkmessageprocessingsteps", {
      name: "notify the dead hook", stage: 40, mode: 1, rank: 1, supporteddeployment: 0,
      "sdkmessageid@odata.bind": "/sdkmessages(10bb454c-9e87-4f40-b9b5-7422624bbdb5)",
      "eventhandler_serviceendpoint@odata.bind": `/serviceendpoints(${endpointId})`,
    });
    assert.equal(st.status, 204);
    const op = await submit(base, "bgops_Echo", { Text: "hook me" });
    await waitStatus(base, op, 30);
    let failed = [];
    for (let i = 0; i < 600 && !failed.length; i++) {
      failed = (await call(base, "GET", "/api/data/v9.2/asyncoperations?$filter=statuscode eq 31")).body.value;
      if (!failed.length) await sleep(50);
    }
    assert.equal(failed.length, 1, "the step's system job failed");

    await withPage("definitions", async (page) => {
      await signIn(page, base);
      await page.getByRole("link", { name: "Custom APIs" }).click();
      const fail = page.getByRole("region", { name: "bgops_Fail" });
      await fail.waitFor();
      const times = fail.getByRole("row", { name: /^FailTimes/ });
      assert.deepEqual((await times.locator("td").allTextContents()).slice(0, 2), ["Integer", "required"]);
      const message = fail.getByRole("row", { name: /^Message/ });
      assert.deepEqual((await message.locator("td").allTextContents()).slice(0, 2), ["String", "optional"]);
      await fail.getByRole("table", { name: "Response properties" }).getByRole("row", { name: /^Attempts/ }).waitFor();

      await page.getByRole("link", { name: "Webhooks & steps" }).click();
      await page.getByTestId("endpoints").getByRole("row", { name: /dead hook/ }).waitFor();
      await page.getByTestId("steps").getByRole("row", { name: /notify the dead hook/ }).waitFor();
      const failure = page.getByTestId("failures").getByRole("row").filter({ hasText: op });
      await failure.waitFor();
      await failure.getByRole("link", { name: op }).click();
      await page.getByTestId("jobs").getByRole("row").filter({ hasText: "Failed" }).waitFor();
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
  }
});

test("overview: throughput and failure-rate charts, counts by custom API, nodes", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    const ids = [];
    for (let i = 0; i < 3; i++) ids.push(await submit(base, "bgops_Echo", { Text: `c${i}` }));
    ids.push(await submit(base, "bgops_Fail", { FailTimes: 5, Permanent: true }));
    await waitStatus(base, ids[3], 31);
    for (const id of ids.slice(0, 3)) await waitStatus(base, id, 30);
    const long = await submit(base, "bgops_Delay", { DelayMs: 600000 });
    await waitStatus(base, long, 20);
    await withPage("overview-charts", async (page) => {
      await signIn(page, base);
      const throughput = page.getByRole("img", { name: /Operations finished per minute over the last hour: 4 in all/ });
      await throughput.waitFor();
      assert.equal(await throughput.locator("rect").count(), 60, "a bar per minute");
      await page.getByRole("img", { name: /failed, per minute over the last hour: 1 of 4/ }).waitFor();
      await page.getByTestId("failure-rate").filter({ hasText: "25 %" }).waitFor();
      const echoRow = page.getByTestId("by-api").getByRole("row", { name: /bgops_Echo/ });
      assert.deepEqual(await echoRow.locator("td").allTextContents(), ["3", "0", "0"]);
      const nodes = page.getByTestId("nodes");
      assert.equal(await nodes.locator("tbody tr").count(), 1);
      assert.equal(await nodes.locator("tbody tr td").first().textContent(), "1");
      await nodes.getByText("renewing").waitFor();
      assert.deepEqual(page.problems, [], "no script error and no CSP violation");
    });
  } finally {
    server.stop();
  }
});

test("read-only: no cancel button, and the page's writes are refused", async () => {
  const server = await startServer(["--dashboard", "read-only"]);
  const { base } = server;
  try {
    const long = await submit(base, "bgops_Delay", { DelayMs: 600000 });
    await waitStatus(base, long, 20);
    await withPage("read-only", async (page) => {
      await signIn(page, base);
      await page.goto(`${base}/ui/operations/${long}`);
      await page.getByTestId("status").filter({ hasText: "In Progress" }).waitFor();
      assert.equal(await page.getByRole("button", { name: "Cancel" }).isVisible(), false);
      assert.equal(await page.getByRole("button", { name: "Resubmit" }).isVisible(), false);
      await page.goto(`${base}/ui/operations`);
      await page.locator(`tr[data-id="${long}"]`).waitFor();
      assert.equal(await page.getByRole("button", { name: "Cancel all matching…" }).isVisible(), false);
      const status = await page.evaluate(async (id) => {
        const resp = await fetch(`/api/backgroundoperation/${id}`, {
          method: "DELETE",
          headers: { Authorization: `Bearer ${sessionStorage.getItem("bgops.token")}` },
        });
        return resp.status;
      }, long);
      assert.equal(status, 403);
    });
    // A program (no Sec-Fetch-Site) may still cancel: read-only is the dashboard's.
    const r = await call(base, "GET", `/api/backgroundoperation/${long}`);
    assert.equal(r.body.backgroundOperationStatusCode, 20);
  } finally {
    server.stop();
  }
});

/** Text whose contrast with its background is below WCAG AA (4.5:1, 3:1 for large text) on the
 * current page, as `text (ratio)` lines; disabled controls are exempt, as in WCAG. */
function lowContrast(page) {
  return page.evaluate(() => {
    const rgb = (c) => (c.match(/[\d.]+/g) || []).map(Number);
    const lum = ([r, g, b]) => {
      const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
      return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = (el) => {
      for (let e = el; e; e = e.parentElement) {
        const c = rgb(getComputedStyle(e).backgroundColor);
        if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3);
      }
      return [255, 255, 255];
    };
    const bad = [];
    const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
    for (let n = walker.nextNode(); n; n = walker.nextNode()) {
      const el = n.parentElement;
      if (!n.textContent.trim() || !el || el.closest("[hidden], .skip, :disabled, svg")) continue;
      const box = el.getBoundingClientRect();
      if (!box.width || !box.height) continue;
      const cs = getComputedStyle(el);
      const [a, b] = [lum(rgb(cs.color)), lum(background(el))];
      const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
      const size = parseFloat(cs.fontSize);
      const large = size >= 24 || (size >= 18.66 && Number(cs.fontWeight) >= 700);
      if (ratio < (large ? 3 : 4.5)) bad.push(`${n.textContent.trim().slice(0, 40)} (${ratio.toFixed(2)})`);
    }
    return bad;
  });
}

test("every page: labels, contrast in light and dark, and the keyboard", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    const done = await submit(base, "bgops_Fail", { FailTimes: 5, Permanent: true });
    await waitStatus(base, done, 31);
    const long = await submit(base, "bgops_Delay", { DelayMs: 600000 });
    await waitStatus(base, long, 20);
    await withPage("a11y", async (page) => {
      await signIn(page, base);
      const pages = [
        ["/ui/", "Overview"], ["/ui/operations", "Operations"], [`/ui/operations/${done}`, "Operation bgops_Fail"],
        ["/ui/apis", "Custom APIs"], ["/ui/steps", "Webhooks & steps"],
      ];
      for (const scheme of ["light", "dark"]) {
        await page.emulateMedia({ colorScheme: scheme });
        for (const [url, heading] of pages) {
          await page.goto(`${base}${url}`);
          await page.getByRole("heading", { name: heading, exact: true }).waitFor();
          await page.locator("table, .cards").first().waitFor();
          assert.deepEqual(await lowContrast(page), [], `contrast of ${url} (${scheme})`);
          const unlabeled = await page.evaluate(() => [...document.querySelectorAll("input, select, button")]
            .filter((el) => !el.hidden && !(el.labels?.length || el.textContent.trim() || el.getAttribute("aria-label")))
            .map((el) => el.outerHTML));
          assert.deepEqual(unlabeled, [], `labels on ${url}`);
          const images = await page.evaluate(() => [...document.querySelectorAll("svg")]
            .filter((el) => el.getAttribute("role") !== "img" || !el.getAttribute("aria-label")).length);
          assert.equal(images, 0, `charts are named images on ${url}`);
        }
      }
      // The theme follows the system.
      await page.emulateMedia({ colorScheme: "dark" });
      const dark = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      await page.emulateMedia({ colorScheme: "light" });
      const light = await page.evaluate(() => getComputedStyle(document.body).backgroundColor);
      assert.notEqual(dark, light);

      // Keyboard only: reach the bulk cancel from the filter form, open the dialog, keep them.
      await page.goto(`${base}/ui/operations?status=20`);
      await page.locator(`tr[data-id="${long}"]`).waitFor();
      await page.getByRole("button", { name: "Filter" }).focus();
      await page.keyboard.press("Tab");
      assert.equal(await page.evaluate(() => document.activeElement.textContent), "Cancel all matching…");
      await page.keyboard.press("Enter");
      const dialog = page.getByRole("dialog");
      await dialog.getByRole("heading", { name: "Cancel 1 operation matching this filter?" }).waitFor();
      assert.equal(await page.evaluate(() => document.activeElement.textContent), "Keep them",
        "focus starts on the safe answer");
      await page.keyboard.press("Escape");
      await dialog.waitFor({ state: "detached" });
      assert.equal((await call(base, "GET", `/api/backgroundoperation/${long}`)).body.backgroundOperationStatusCode, 20);
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
  }
});

test("pages carry a strict CSP, and every form control has a label", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    const resp = await fetch(`${base}/ui/operations`);
    const csp = resp.headers.get("content-security-policy");
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    await withPage("labels", async (page) => {
      await page.goto(`${base}/`);
      await page.getByLabel("API key").waitFor();
      await signIn(page, base);
      await page.goto(`${base}/ui/operations`);
      await page.getByRole("heading", { name: "Operations" }).waitFor();
      const unlabeled = await page.evaluate(() =>
        [...document.querySelectorAll("input, select")]
          .filter((el) => !el.labels || el.labels.length === 0)
          .map((el) => el.outerHTML));
      assert.deepEqual(unlabeled, []);
      // Keyboard: on a fresh load the first Tab reaches the skip link.
      await page.reload();
      await page.getByRole("heading", { name: "Operations" }).waitFor();
      await page.keyboard.press("Tab");
      assert.equal(await page.evaluate(() => document.activeElement.textContent), "Skip to content");
      assert.deepEqual(page.problems, []);
    });
    // Cross-site writes are refused.
    const r = await call(base, "POST", "/api/data/v9.2/bgops_Echo", {}, {
      Prefer: "respond-async", "Sec-Fetch-Site": "cross-site",
    });
    assert.equal(r.status, 403);
    assert.equal(r.body.error.code, "0x80048405");
  } finally {
    server.stop();
  }
});

test("an operation retried twice shows every attempt with its error, and each callback try", async () => {
  // A callback receiver on loopback that refuses the first try and takes the next.
  const http = require("node:http");
  let hits = 0;
  const receiver = http.createServer((req, res) => {
    hits += 1;
    req.resume();
    res.writeHead(hits === 1 ? 500 : 204).end();
  });
  await new Promise((resolve) => receiver.listen(0, "127.0.0.1", resolve));
  const hook = `http://127.0.0.1:${receiver.address().port}/hook`;
  const server = await startServer(["--retry-base-delay", "20ms", "--callback-allow-http",
    "--callback-allow-private"]);
  const { base } = server;
  try {
    const r = await call(base, "POST", "/api/data/v9.2/bgops_Fail",
      { FailTimes: 2, Message: "not yet" },
      { Prefer: "respond-async", "x-ms-dyn-callback-url": `${hook}?sig=secret-value` });
    assert.equal(r.status, 202);
    const id = r.headers.get("x-ms-dyn-backgroundoperationid");
    await waitStatus(base, id, 30);

    await withPage("attempts", async (page) => {
      await signIn(page, base);
      await page.goto(`${base}/ui/operations/${id}`);
      const attempts = page.getByTestId("attempts");
      await attempts.getByRole("row").filter({ hasText: "Succeeded" }).waitFor();
      const failed = attempts.locator("tbody tr[data-outcome=Failed]");
      assert.equal(await failed.count(), 2, "two failed attempts");
      for (let i = 0; i < 2; i++) {
        const text = await failed.nth(i).textContent();
        assert.match(text, /0x80040265 not yet/, `attempt ${i + 1}`);
      }
      assert.equal(await attempts.locator("tbody tr").count(), 3);
      assert.deepEqual(await attempts.locator("tbody th").allTextContents(), ["1", "2", "3"]);

      // The delivery, once sent (the page reads again while it is pending): its URL without
      // the query string, two tries, the failed one listed.
      const delivery = page.getByTestId("delivery");
      await delivery.getByText("delivered", { exact: true }).waitFor();
      const shown = await delivery.textContent();
      assert.ok(shown.includes(hook) && !shown.includes("secret-value"), shown);
      const tries = delivery.getByRole("table", { name: /Failed tries/ }).locator("tbody tr");
      assert.equal(await tries.count(), 1);
      assert.match(await tries.first().textContent(), /500/);
      await page.getByTestId("expires").filter({ hasText: /left/ }).waitFor();

      for (const scheme of ["light", "dark"]) {
        await page.emulateMedia({ colorScheme: scheme });
        assert.deepEqual(await lowContrast(page), [], `contrast of the attempts (${scheme})`);
      }
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
    receiver.close();
  }
});

test("page load on loopback: navigation start to the overview's numbers", async () => {
  const server = await startServer();
  const { base } = server;
  try {
    for (let i = 0; i < 3; i++) await waitStatus(base, await submit(base, "bgops_Echo", { Text: `l${i}` }), 30);
    await withPage("page-load", async (page) => {
      // Records when the overview's first count is in the page, from navigation start.
      await page.addInitScript(() => {
        new MutationObserver((_, observer) => {
          if (document.querySelector(".card .n")) {
            window.overviewShownAt = performance.now();
            observer.disconnect();
          }
        }).observe(document, { childList: true, subtree: true });
      });
      await signIn(page, base);
      const figures = [];
      for (let i = 0; i < 6; i++) {
        await page.goto(`${base}/ui/`);
        // (waitForFunction would evaluate a string, which the page's CSP refuses.)
        await page.locator(".card .n").first().waitFor();
        figures.push(await page.evaluate(() => {
          const nav = performance.getEntriesByType("navigation")[0];
          return {
            shown: window.overviewShownAt,
            domContentLoaded: nav.domContentLoadedEventEnd,
            load: nav.loadEventEnd,
          };
        }));
      }
      // The first load warms the binary's and the browser's caches; the rest are typical.
      const warm = figures.slice(1).map((f) => f.shown).sort((a, b) => a - b);
      const median = warm[Math.floor(warm.length / 2)];
      console.log(`page load on loopback (ms): first ${figures[0].shown.toFixed(1)}, `
        + `median of ${warm.length} more ${median.toFixed(1)} (DOMContentLoaded `
        + `${figures[figures.length - 1].domContentLoaded.toFixed(1)}); issue 15 asks under 300`);
      // Not a timed assertion: only something absurd fails.
      assert.ok(median < 3000, `the overview took ${median} ms`);
      assert.deepEqual(page.problems, []);
    });
  } finally {
    server.stop();
  }
});
