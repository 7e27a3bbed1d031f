/**
 * A loopback HTTP server on its own worker thread, so it keeps answering
 * while the test blocks this thread's event loop — the in-process stand-in
 * for a daemon paused with SIGSTOP while its answer arrives. It reports
 * through shared memory (readable while the loop is blocked): STATE_RECEIVED
 * once a request has been read, STATE_ANSWERED once the whole answer has
 * been handed to the kernel.
 *
 * Paths: /answer (200 with rotated tokens, sent when the test says go, from
 * inside its pause), /hang (never answers), /slow-body (headers at once, the body in five
 * chunks 100 ms apart), /stall-body and /stall-body-503 (headers and half a
 * body, then nothing).
 */
import { Worker } from "node:worker_threads";

const STATE_IDLE = 0;
const STATE_RECEIVED = 1;
const STATE_ANSWERED = 2;

export const ROTATED = { access_token: "at-after-pause", refresh_token: "rt-rotated", token_type: "bearer", expires_in: 60 };

const SERVER = `
const { parentPort, workerData } = require("node:worker_threads");
const http = require("node:http");
const state = new Int32Array(workerData.state);
const GO = 1;
const set = (v) => { Atomics.store(state, 0, v); Atomics.notify(state, 0); };
const sockets = new Set();
const server = http.createServer((req, res) => {
  req.resume();
  req.on("end", () => {
    const u = new URL(req.url, "http://x");
    set(${STATE_RECEIVED});
    if (u.pathname === "/hang") return;
    if (u.pathname === "/slow-body") {
      res.writeHead(200, { "content-type": "application/json" });
      const text = JSON.stringify(workerData.rotated);
      const parts = [0, 1, 2, 3, 4].map((i) => text.slice((i * text.length) / 5, ((i + 1) * text.length) / 5));
      let i = 0;
      const next = () => (i < parts.length - 1 ? res.write(parts[i++], () => setTimeout(next, 100)) : res.end(parts[i], () => set(${STATE_ANSWERED})));
      return next();
    }
    if (u.pathname.startsWith("/stall-body")) {
      res.writeHead(u.pathname.endsWith("503") ? 503 : 200, { "content-type": "application/json" });
      return res.write('{"access_token":');
    }
    // "not-equal" at once (no promise) when the test said go before this request got here.
    const wait = Atomics.waitAsync(state, GO, 0);
    (wait.async ? wait.value : Promise.resolve()).then(() => {
      const text = JSON.stringify(workerData.rotated);
      res.writeHead(200, { "content-type": "application/json", "content-length": Buffer.byteLength(text) });
      res.end(text, () => set(${STATE_ANSWERED}));
    });
  });
});
// No idle timeout: the test's loop may be blocked (a pause, or a loaded machine) for longer than
// the default 5 s, and a keep-alive socket the server closed meanwhile fails the next request
// with UND_ERR_SOCKET before it reaches the server. close() destroys every socket anyway.
server.keepAliveTimeout = 0;
server.on("connection", (s) => { sockets.add(s); s.on("close", () => sockets.delete(s)); });
server.listen(0, "127.0.0.1", () => parentPort.postMessage(server.address().port));
parentPort.on("message", () => { for (const s of sockets) s.destroy(); server.close(() => parentPort.close()); });
`;

export interface WorkerServer {
  url: string;
  state: Int32Array;
  /** Back to STATE_IDLE, before the next request. */
  reset(): void;
  close(): Promise<void>;
}

const GO = 1;

export async function startWorkerServer(): Promise<WorkerServer> {
  const state = new Int32Array(new SharedArrayBuffer(8));
  const worker = new Worker(SERVER, { eval: true, workerData: { state: state.buffer, rotated: ROTATED } });
  const port = await new Promise<number>((resolve, reject) => {
    worker.once("message", resolve);
    worker.once("error", reject);
  });
  // The server's thread is not expected to end before close(): if it does, say why, since every
  // later request of the file then fails as unreachable (how a race in its go signal showed itself).
  let exited = false;
  worker.on("error", (err) => process.stderr.write(`worker-server: the server's thread threw: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`));
  worker.once("exit", (code) => {
    exited = true;
    if (!closing) process.stderr.write(`worker-server: the server's thread exited (code ${code}) before close()\n`);
  });
  let closing = false;
  return {
    url: `http://127.0.0.1:${port}`,
    state,
    reset: () => {
      Atomics.store(state, 0, STATE_IDLE);
      Atomics.store(state, GO, 0);
    },
    close: async () => {
      closing = true;
      if (exited) return;
      const done = new Promise((resolve) => worker.once("exit", resolve));
      worker.postMessage("close");
      await done;
    },
  };
}

/**
 * The pause: blocks this thread synchronously, lets the server send its
 * answer, waits until the answer is in our socket buffer, then until
 * `untilMs` (performance.now()). It runs in the check phase (setImmediate),
 * so the next turn of the loop begins with the timers phase, every timer
 * armed before overdue — the order in which a paused process resumes.
 * Returns when the pause began.
 */
function pause(server: WorkerServer, untilMs: number): number {
  const began = performance.now();
  if (Atomics.load(server.state, 0) < STATE_RECEIVED) throw new Error("the request had not reached the server before the pause");
  Atomics.store(server.state, GO, 1);
  Atomics.notify(server.state, GO);
  if (Atomics.wait(server.state, 0, STATE_RECEIVED, 5000) === "timed-out") throw new Error("the server did not answer");
  const left = untilMs - performance.now();
  if (left > 0) Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, left);
  return began;
}

function pauseSoon(server: WorkerServer, untilMs: number, resolve: (began: number) => void, reject: (e: unknown) => void): void {
  setImmediate(() => {
    try {
      resolve(pause(server, untilMs));
    } catch (e) {
      reject(e);
    }
  });
}

/**
 * Pauses as soon as the server has read the request (before any deadline of
 * the request). If `request` settles first (it failed on its way), the poll
 * stops and this rejects: a poll left running would pause the loop in the
 * middle of a later test and fail that one too.
 */
export function pauseOnceReceived(server: WorkerServer, untilMs: number, request: Promise<unknown>): Promise<number> {
  return new Promise((resolve, reject) => {
    const poll = setInterval(() => {
      if (Atomics.load(server.state, 0) < STATE_RECEIVED) return;
      clearInterval(poll);
      pauseSoon(server, untilMs, resolve, reject);
    }, 1);
    const settled = (why: unknown): void => {
      clearInterval(poll);
      reject(new Error(`the request settled before the server read it: ${String(why)}`));
    };
    request.then(settled, settled);
  });
}

/** Pauses at `atMs` (performance.now()); the request must have reached the server by then. */
export function pauseAt(server: WorkerServer, atMs: number, untilMs: number): Promise<number> {
  return new Promise((resolve, reject) => {
    setTimeout(() => pauseSoon(server, untilMs, resolve, reject), Math.max(0, atMs - performance.now()));
  });
}
