// A minimal OTLP/HTTP receiver on loopback for the tests: records every
// request (path, headers, decoded JSON body) and answers from a script of
// responses (then 200). node:http runs on Node, Deno and Bun alike.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { gunzipSync } from "node:zlib";
import { Buffer } from "node:buffer";
import type { AddressInfo } from "node:net";

export interface ReceivedRequest {
  path: string;
  headers: IncomingMessage["headers"];
  body: unknown;
  raw: string;
  at: number;
}

export interface ScriptedResponse {
  status: number;
  headers?: Record<string, string>;
  body?: string;
  /** Streams this many bytes of "x" as the body instead, honouring back-pressure, until the client goes away. */
  streamBytes?: number;
  /** Never answers (the connection stays open until the client aborts or the receiver closes). */
  hang?: boolean;
}

export interface OtlpReceiver {
  url(path: string): string;
  requests: ReceivedRequest[];
  respondWith(...responses: ScriptedResponse[]): void;
  /** The answer once the script is used up (200 unless set). */
  otherwiseRespondWith(response: ScriptedResponse): void;
  /** Bytes of `streamBytes` bodies handed to the socket so far. */
  readonly streamedBytes: number;
  waitFor(predicate: (requests: ReceivedRequest[]) => boolean, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

export async function startOtlpReceiver(): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const script: ScriptedResponse[] = [];
  let otherwise: ScriptedResponse = { status: 200 };
  let streamedBytes = 0;
  const server: Server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (chunk: Buffer) => chunks.push(Buffer.from(chunk)));
    req.on("end", () => {
      let bytes = Buffer.concat(chunks);
      if (req.headers["content-encoding"] === "gzip") bytes = gunzipSync(bytes);
      const raw = bytes.toString("utf8");
      const type = String(req.headers["content-type"] ?? "");
      let body: unknown;
      if (type.includes("json")) body = JSON.parse(raw);
      else body = { unsupportedContentType: type };
      requests.push({ path: req.url ?? "", headers: req.headers, body, raw, at: performance.now() });
      const reply = script.shift() ?? otherwise;
      if (reply.hang === true) return;
      if (reply.streamBytes !== undefined) {
        res.writeHead(reply.status, { "content-type": "text/plain", ...reply.headers });
        const chunk = Buffer.alloc(64 * 1024, "x");
        let left = reply.streamBytes;
        const pump = (): void => {
          while (left > 0 && !res.destroyed) {
            left -= chunk.length;
            streamedBytes += chunk.length;
            if (!res.write(chunk)) {
              res.once("drain", pump);
              return;
            }
          }
          if (!res.destroyed) res.end();
        };
        pump();
        return;
      }
      res.writeHead(reply.status, { "content-type": "application/json", ...reply.headers });
      res.end(reply.body ?? "{}");
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: (path) => `http://127.0.0.1:${port}${path}`,
    requests,
    respondWith: (...responses) => void script.push(...responses),
    otherwiseRespondWith: (response) => void (otherwise = response),
    get streamedBytes() {
      return streamedBytes;
    },
    async waitFor(predicate, timeoutMs = 5000) {
      const deadline = performance.now() + timeoutMs;
      while (!predicate(requests)) {
        if (performance.now() > deadline) {
          throw new Error(`receiver: condition not met after ${timeoutMs} ms; got ${requests.length} requests`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
    },
    close: () =>
      new Promise<void>((resolve) => {
        (server as { closeAllConnections?: () => void }).closeAllConnections?.();
        server.close(() => resolve());
      }),
  };
}

/** The spans of OTLP/JSON trace requests, flattened, with their resource attributes. */
export interface ReceivedSpan {
  name: string;
  traceId: string;
  spanId: string;
  parentSpanId: string | undefined;
  kind: number;
  status: { code?: number; message?: string };
  events: { name: string }[];
  resource: Record<string, unknown>;
}

type AnyValue = { stringValue?: string; intValue?: string | number; boolValue?: boolean; doubleValue?: number };

export function attributesOf(list: { key: string; value: AnyValue }[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const { key, value } of list ?? []) {
    out[key] = value.stringValue ?? value.boolValue ?? value.doubleValue ??
      (value.intValue === undefined ? undefined : Number(value.intValue));
  }
  return out;
}

export function spansOf(requests: ReceivedRequest[]): ReceivedSpan[] {
  const spans: ReceivedSpan[] = [];
  for (const request of requests) {
    const body = request.body as { resourceSpans?: unknown[] };
    for (
      const rs of (body.resourceSpans ?? []) as {
        resource?: { attributes?: never };
        scopeSpans?: { spans?: Record<string, unknown>[] }[];
      }[]
    ) {
      const resource = attributesOf(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          const parent = span["parentSpanId"];
          spans.push({
            name: span["name"] as string,
            traceId: span["traceId"] as string,
            spanId: span["spanId"] as string,
            parentSpanId: typeof parent === "string" && parent !== "" ? parent : undefined,
            kind: span["kind"] as number,
            status: (span["status"] ?? {}) as ReceivedSpan["status"],
            events: (span["events"] ?? []) as { name: string }[],
            resource,
          });
        }
      }
    }
  }
  return spans;
}
