/**
 * What the README's examples take from the reader's application — a registry made elsewhere, an app, a database,
 * a Kafka message — declared with a type and no value, so `tests/readme.test.ts` can type-check every example.
 *
 * Only the application's own things belong here: anything the library or a third-party package provides must be
 * imported by the example itself, so that a missing import is a type error. `tests/readme.test.ts` turns each
 * `export declare` below into a global of the examples' type-check project (and nowhere else: this module adds no
 * global to the repository's own type-check).
 *
 * @module
 */

import type { IncomingMessage, ServerResponse } from "node:http";
import type { Histogram, Registry } from "../../mod.ts";
import type { KafkaHeaderObject } from "../../src/otel/mod.ts";

/** A registry the application made earlier. */
export declare const registry: Registry;

/** An application with a fetch-style entry point (Hono) that is also a `node:http` listener (Express). */
export declare const app:
  & ((request: IncomingMessage & { route?: { path: string } }, response: ServerResponse) => void)
  & { fetch(request: Request): Promise<Response> };

/** The application's router: a route template such as `"/users/:id"`, or `undefined`. */
export declare function matchRoute(path: string): string | undefined;

/** A database client whose connection decides readiness. */
export declare const database: { isConnected(): boolean };

/** Deno's namespace, as far as the examples use it (the type-check runs with Node's types). */
export declare const Deno: { serve(handler: (request: Request) => Response | Promise<Response>): unknown };

/** Work done inside a span. */
export declare function charge(): Promise<void>;

/** Reads a configuration. */
export declare function readAll(): string;

/** A histogram of seconds the application registered. */
export declare const configSeconds: Histogram;

/** A KafkaJS-style producer. */
export declare const producer: {
  send(record: { topic: string; messages: Array<{ value: string; headers?: KafkaHeaderObject }> }): Promise<unknown>;
};

/** A topic name. */
export declare const topic: string;

/** A message value. */
export declare const value: string;

/** A consumed KafkaJS-style message. */
export declare const message: { value: Buffer | null; headers?: KafkaHeaderObject };

/** The application's message handler. */
export declare function handle(message: unknown): Promise<void>;

/** The application's consumer-side handler. */
export declare function bill(message: unknown): void | Promise<void>;

/** An order to send. */
export declare const order: { id: string; amount: number };

/** What an rdkafka delivery report hands back. */
export declare const myOpaque: unknown;

/** An OTLP/HTTP metrics endpoint. */
export declare const url: string;

/** A bearer token. */
export declare const token: string;

/** A batch job that backs records up, telling `progress` how many it did. */
export declare function backUp(progress: (count: number) => void): Promise<void>;

/** The registry of a batch job's extract step. */
export declare const extractMetrics: Registry;

/** The registry of a batch job's retries. */
export declare const retryMetrics: Registry;
