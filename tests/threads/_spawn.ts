// Starts a worker thread running a module, on whichever runtime runs the tests:
// worker_threads on Node, Web Workers on Deno and Bun. The worker answers tasks
// posted to it (see _worker.ts); `run` sends one and resolves with its reply.

/** A message a worker sends back: a task's result, or progress while it runs. */
export interface WorkerReply {
  id: number;
  kind: "done" | "error" | "progress";
  result?: unknown;
  message?: string;
}

/** A running worker, the same on every runtime. */
export interface ThreadWorker {
  /** Posts a task and resolves with its "done" reply (rejects on "error"); `onProgress` sees progress replies. */
  run(task: Record<string, unknown>, onProgress?: (reply: WorkerReply) => void): Promise<unknown>;
  /** Stops the worker at once, wherever it is. */
  terminate(): Promise<void>;
}

interface Port {
  postMessage(message: unknown): void;
  terminate(): unknown;
}

/** The part of the Web Worker API used here (declared locally: Node's types lack it). */
interface WebWorker extends Port {
  onmessage: ((event: { data: unknown }) => void) | null;
  onerror: ((event: { message: string; preventDefault(): void }) => void) | null;
}
type WebWorkerConstructor = new (url: URL, options: { type: "module" }) => WebWorker;

const isWeb = "Deno" in globalThis || "Bun" in globalThis;

/** Starts `module` in a new thread. */
export async function spawnWorker(module: URL): Promise<ThreadWorker> {
  const pending = new Map<
    number,
    { resolve: (v: unknown) => void; reject: (e: Error) => void; progress?: (r: WorkerReply) => void }
  >();
  let nextId = 1;
  let failure: Error | undefined;
  const onReply = (reply: WorkerReply): void => {
    const waiter = pending.get(reply.id);
    if (waiter === undefined) return;
    if (reply.kind === "progress") return waiter.progress?.(reply);
    pending.delete(reply.id);
    if (reply.kind === "done") waiter.resolve(reply.result);
    else waiter.reject(new Error(reply.message));
  };
  const onFailure = (error: Error): void => {
    failure = error;
    for (const waiter of pending.values()) waiter.reject(error);
    pending.clear();
  };
  let port: Port;
  if (isWeb) {
    const WebWorkerClass = (globalThis as unknown as { Worker: WebWorkerConstructor }).Worker;
    const worker = new WebWorkerClass(module, { type: "module" });
    worker.onmessage = (event) => onReply(event.data as WorkerReply);
    worker.onerror = (event) => {
      event.preventDefault();
      onFailure(new Error(`worker failed: ${event.message}`));
    };
    port = worker;
  } else {
    const { Worker: NodeWorker } = await import("node:worker_threads");
    // Node runs the tests through tsx, whose loader a worker does not inherit on Node 20:
    // a tiny bootstrap registers it in the worker, then imports the module.
    const tsx = import.meta.resolve("tsx/esm/api");
    const bootstrap = `import(${JSON.stringify(tsx)}).then((api) => { api.register(); return import(${
      JSON.stringify(module.href)
    }); })`;
    const worker = new NodeWorker(bootstrap, { eval: true });
    worker.on("message", onReply);
    worker.on("error", onFailure);
    port = worker;
  }
  return {
    run(task, onProgress) {
      if (failure !== undefined) return Promise.reject(failure);
      const id = nextId++;
      return new Promise((resolve, reject) => {
        pending.set(id, onProgress === undefined ? { resolve, reject } : { resolve, reject, progress: onProgress });
        port.postMessage({ ...task, id });
      });
    },
    async terminate() {
      for (const waiter of pending.values()) waiter.reject(new Error("worker terminated"));
      pending.clear();
      await port.terminate();
    },
  };
}
