// Runs on Node only: node --import tsx --test tests/http/node.test.ts
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { createServer, type IncomingMessage, type ServerResponse } from "node:http";
import { connect } from "node:net";
import { serve } from "../../adapters/node.ts";
import { Registry } from "../../src/registry.ts";
import { instrumentNodeListener } from "../../src/http/middleware.ts";
import { httpSuite } from "./suite.ts";

httpSuite("node", serve);

function rawRequest(port: number, head: string): Promise<string> {
  return new Promise((done, fail) => {
    let answer = "";
    const socket = connect(port, "127.0.0.1", () => socket.end(`${head}\r\nConnection: close\r\n\r\n`));
    socket.setEncoding("utf8");
    socket.on("data", (chunk: string) => (answer += chunk));
    socket.on("end", () => done(answer));
    socket.on("error", fail);
  });
}

describe("toNodeListener() on node", () => {
  it("toNodeListener() answers 400 to a method or Host fetch cannot represent, and keeps serving", async () => {
    const server = await serve({ registry: new Registry(), port: 0, hostname: "127.0.0.1" });
    try {
      assert.match(await rawRequest(server.port, "TRACE /metrics HTTP/1.1\r\nHost: localhost"), /^HTTP\/1\.1 400 /);
      assert.match(await rawRequest(server.port, "GET /metrics HTTP/1.1\r\nHost: exa mple:x"), /^HTTP\/1\.1 400 /);
      assert.match(await rawRequest(server.port, "GET /metrics HTTP/1.1\r\nHost: localhost"), /^HTTP\/1\.1 200 /);
    } finally {
      await server.close();
    }
  });
});

describe("instrumentNodeListener() on node", () => {
  it("instrumentNodeListener() on a node:http server keeps serving when routes() returns null, a number or throws", async () => {
    const registry = new Registry();
    const answers: unknown[] = [null, 404, "throw"];
    let next = 0;
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on("uncaughtException", onUncaught);
    const server = createServer(instrumentNodeListener((_request: IncomingMessage, response: ServerResponse) => {
      response.statusCode = 404;
      response.end("not here");
    }, {
      registry,
      routes: () => {
        const answer = answers[next++ % answers.length];
        if (answer === "throw") throw new Error("route table broke");
        return answer as string | undefined;
      },
    }));
    try {
      await new Promise<void>((listening) => server.listen(0, "127.0.0.1", listening));
      const { port } = server.address() as { port: number };
      for (let index = 0; index < 6; index++) {
        const response = await fetch(`http://127.0.0.1:${port}/nowhere/${index}`);
        assert.equal(response.status, 404);
        assert.equal(await response.text(), "not here");
      }
      // "finish" fires after the client has its answer: give the last one a turn.
      await new Promise((resolve) => setTimeout(resolve, 50));
      assert.deepEqual(uncaught, []);
      const text = registry.render();
      assert.match(text, /^http_requests_total\{method="GET",route="unmatched",status="404"\} 6$/m);
      assert.match(text, /^atomic_metrics_middleware_errors_total 6$/m);
    } finally {
      process.off("uncaughtException", onUncaught);
      server.closeAllConnections();
      await new Promise((closed) => server.close(closed));
    }
  });
});
