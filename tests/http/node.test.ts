// Runs on Node only: node --import tsx --test tests/http/node.test.ts
import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { connect } from "node:net";
import { serve } from "../../adapters/node.ts";
import { Registry } from "../../src/registry.ts";
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
