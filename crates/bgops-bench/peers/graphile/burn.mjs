// The graphile-worker peer of bgops-bench, run by the harness as a child process:
//
//   node burn.mjs --url postgres://… --schema S --n N --concurrency C [--batching]
//
// 1. Migrates graphile-worker's schema S and queues N no-op jobs (addJobs, 1,000 a call);
//    prints {"event":"queued",…} on standard output.
// 2. Waits for the line "go" on standard input, then starts a runner: `concurrency` C and
//    graphile-worker's defaults, or with --batching its documented batching
//    (https://worker.graphile.org/docs/performance#batching: localQueue.size 500,
//    completeJobBatchDelay 0, failJobBatchDelay 0); prints {"event":"started"}.
// 3. On "stop" (or the end of standard input) stops the runner gracefully, prints
//    {"event":"stopped","completed":…} and exits.
//
// The harness times the burn-down itself, from "go" until no job is left in S._private_jobs.

import readline from "node:readline";
import { Logger, makeWorkerUtils, run } from "graphile-worker";

function parseArgs(argv) {
  const args = { batching: false, concurrency: 4 };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--batching") args.batching = true;
    else if (a === "--url") args.url = argv[++i];
    else if (a === "--schema") args.schema = argv[++i];
    else if (a === "--n") args.n = Number(argv[++i]);
    else if (a === "--concurrency") args.concurrency = Number(argv[++i]);
    else throw new Error(`unknown argument ${a}`);
  }
  if (!args.url || !args.schema || !(args.n > 0)) {
    throw new Error("usage: burn.mjs --url URL --schema S --n N [--concurrency C] [--batching]");
  }
  return args;
}

function emit(obj) {
  process.stdout.write(JSON.stringify(obj) + "\n");
}

// Warnings and errors go to standard error (the harness's log file); the rest is dropped.
const logger = new Logger(() => (level, message) => {
  if (level === "error" || level === "warning") {
    process.stderr.write(`[${level}] ${message}\n`);
  }
});

const args = parseArgs(process.argv.slice(2));
const lines = readline.createInterface({ input: process.stdin });
const nextLine = (() => {
  const queue = [];
  const waiting = [];
  lines.on("line", (l) => (waiting.length ? waiting.shift()(l.trim()) : queue.push(l.trim())));
  lines.on("close", () => {
    while (waiting.length) waiting.shift()("stop");
    queue.push("stop");
  });
  return () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r)));
})();

const shared = { connectionString: args.url, schema: args.schema, logger };

// 1. Schema and queue.
const utils = await makeWorkerUtils(shared);
await utils.migrate();
const started = process.hrtime.bigint();
for (let first = 0; first < args.n; first += 1000) {
  const specs = [];
  for (let i = first; i < Math.min(args.n, first + 1000); i++) {
    specs.push({ identifier: "noop", payload: { i } });
  }
  await utils.addJobs(specs);
}
const enqueueSecs = Number(process.hrtime.bigint() - started) / 1e9;
await utils.release();
emit({ event: "queued", n: args.n, enqueue_secs: enqueueSecs });

// 2. Burn-down.
while ((await nextLine()) !== "go") {
  /* ignore anything else */
}
let completed = 0;
const preset = args.batching
  ? { worker: { localQueue: { size: 500 }, completeJobBatchDelay: 0, failJobBatchDelay: 0 } }
  : {};
const runner = await run({
  ...shared,
  concurrency: args.concurrency,
  noHandleSignals: true,
  preset,
  taskList: {
    noop: async () => {
      completed++;
    },
  },
});
emit({ event: "started" });

// 3. Stop.
while ((await nextLine()) !== "stop") {
  /* ignore anything else */
}
await runner.stop();
emit({ event: "stopped", completed });
process.exit(0);
