"use strict";
// Shared set-up for the dynamics-web-api suite: starts the real bgops binary on a free loopback
// port with a throw-away SQLite database, builds a DynamicsWebApi client for it, and offers
// small polling helpers. Loaded by every *.test.js file (node --test also runs this file on its
// own; it defines no tests, so it shows up as one passing entry).

// dynamics-web-api routes every request through $http_proxy / $https_proxy when they are set and
// knows nothing about NO_PROXY, so loopback requests would go to the proxy. Drop them before the
// library is loaded.
for (const name of ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY"]) {
  delete process.env[name];
}

const { spawn } = require("node:child_process");
const fs = require("node:fs");
const os = require("node:os");
const path = require("node:path");
const readline = require("node:readline");
const { DynamicsWebApi } = require("dynamics-web-api");

const REPO_ROOT = path.resolve(__dirname, "..", "..", "..");
const BINARY = process.env.BGOPS_NODE_BINARY || path.join(REPO_ROOT, "target", "debug", "bgops");
// scripts/test-node.sh sets these (and NODE_EXTRA_CA_CERTS) for its run over https.
const TLS_CERT = process.env.BGOPS_NODE_TLS_CERT;
const TLS_KEY = process.env.BGOPS_NODE_TLS_KEY;
const TOKEN = "node-suite-admin-token";
const GUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * The database of a new server: a throw-away SQLite file in `dir`, or, when BGOPS_NODE_POSTGRES
 * names a PostgreSQL server (scripts/test-node.sh sets it for its second run), a new schema
 * there, which bgops creates (the script drops the `bgops_node_*` schemas afterwards).
 */
function databaseUrl(dir) {
  const server = process.env.BGOPS_NODE_POSTGRES;
  if (!server) return `sqlite://${path.join(dir, "bgops.db")}`;
  const schema = `bgops_node_${path.basename(dir).replace(/[^a-zA-Z0-9]/g, "").toLowerCase()}`;
  const sep = server.includes("?") ? "&" : "?";
  return `${server}${sep}options=-c%20search_path%3D${schema}`;
}

/**
 * Starts `bgops serve` and resolves once it printed `bgops listening on http(s)://127.0.0.1:PORT`
 * (https when BGOPS_NODE_TLS_CERT and BGOPS_NODE_TLS_KEY name a certificate and its key).
 * Returns { base, token, api, stop() }.
 */
async function startServer() {
  if (!fs.existsSync(BINARY)) {
    throw new Error(`${BINARY} not found; run \`cargo build -p bgops --locked\` first`);
  }
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "bgops-node-"));
  const args = [
    "serve",
    "--listen", "127.0.0.1:0",
    "--database", databaseUrl(dir),
    "--admin-token", TOKEN,
    "--retry-base-delay", "50ms",
    "--lease", "2s",
  ];
  if (TLS_CERT && TLS_KEY) args.push("--tls-cert", TLS_CERT, "--tls-key", TLS_KEY);
  const env = { ...process.env };
  for (const name of Object.keys(env)) if (name.startsWith("BGOPS_")) delete env[name];
  const child = spawn(BINARY, args, { cwd: dir, env, stdio: ["ignore", "pipe", "pipe"] });

  let stderr = "";
  child.stderr.setEncoding("utf8");
  child.stderr.on("data", (chunk) => {
    stderr += chunk;
    if (stderr.length > 200000) stderr = stderr.slice(-100000);
  });
  const exited = new Promise((resolve) => child.once("exit", (code, signal) => resolve({ code, signal })));

  const base = await new Promise((resolve, reject) => {
    const lines = readline.createInterface({ input: child.stdout });
    const timer = setTimeout(() => {
      reject(new Error(`bgops did not report its address within 20 s; stderr:\n${stderr}`));
    }, 20000);
    lines.on("line", (line) => {
      const m = /^bgops listening on (https?:\/\/127\.0\.0\.1:\d+)\s*$/.exec(line);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`bgops exited early (code ${code}, signal ${signal}); stderr:\n${stderr}`));
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });

  const api = new DynamicsWebApi({
    serverUrl: base,
    dataApi: { version: "9.2" },
    onTokenRefresh: async () => TOKEN,
  });

  let stopped = false;
  async function stop() {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timeout = sleep(3000).then(() => "timeout");
      if ((await Promise.race([exited, timeout])) === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  }

  return { base, token: TOKEN, api, stop, stderr: () => stderr };
}

/**
 * Polls the status monitor through the library until `done(status)` holds (default: terminal
 * state 3). Returns the last status; throws after `timeoutMs`.
 */
async function waitForStatus(api, id, done = (s) => s.backgroundOperationStateCode === 3, timeoutMs = 15000) {
  const deadline = Date.now() + timeoutMs;
  let last;
  for (;;) {
    last = await api.getBackgroundOperationStatus(id);
    if (done(last)) return last;
    if (Date.now() > deadline) {
      throw new Error(`background operation ${id} did not reach the expected state in ${timeoutMs} ms; last: ${JSON.stringify(last)}`);
    }
    await sleep(50);
  }
}

/** Submits a custom API in the background and returns the library's result ({location, backgroundOperationId}). */
async function submitAsync(api, actionName, action) {
  return api.callAction({ actionName, action, respondAsync: true });
}

/** The background operation id of a respond-async result, from the header or else the Location URL. */
function operationId(result) {
  if (result && result.backgroundOperationId) return result.backgroundOperationId;
  const m = result && result.location && /\/api\/backgroundoperation\/([0-9a-fA-F-]{36})$/.exec(result.location);
  return m ? m[1] : undefined;
}

/** Runs `fn` and returns the error it rejects with (fails if it resolves). */
async function rejection(fn) {
  try {
    const value = await fn();
    throw Object.assign(new Error(`expected a rejection, got ${JSON.stringify(value)}`), { resolvedInstead: true });
  } catch (err) {
    if (err && err.resolvedInstead) throw err;
    return err;
  }
}

module.exports = {
  REPO_ROOT,
  BINARY,
  GUID_RE,
  TOKEN,
  sleep,
  startServer,
  waitForStatus,
  submitAsync,
  operationId,
  rejection,
};
