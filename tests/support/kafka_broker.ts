/**
 * A real single-node Apache Kafka broker (KRaft mode, combined broker and
 * controller) for the Kafka integration tests, started from the jars that
 * `tests/support/kafka/fetch.sh` copies from Maven Central.
 *
 * As a library: `const broker = await startKafkaBroker(); … await broker.stop();`
 * As a command: `node --import tsx tests/support/kafka_broker.ts` prints the
 * bootstrap address and runs until SIGINT or SIGTERM.
 *
 * Node-only test support (it spawns `java`); it is not part of the package.
 *
 * @module
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { createWriteStream, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { freePort, sleep } from "./process.ts";

/** A running broker: where to reach it and how to stop it. */
export interface KafkaBroker {
  /** `host:port` of the PLAINTEXT listener, for `bootstrap.servers` / `brokers`. */
  readonly bootstrap: string;
  /** Kills the broker and removes its data directory. Safe to call twice. */
  stop(): Promise<void>;
}

/** Options for {@link startKafkaBroker}. */
export interface KafkaBrokerOptions {
  /** Directory holding the broker jars. @default env KAFKA_LIBS_DIR or `<repo>/.cache/kafka-libs` */
  readonly libsDir?: string;
  /** How long to wait for the broker to answer. @default 60_000 */
  readonly startTimeoutMs?: number;
  /** Extra `server.properties` entries, overriding the defaults. */
  readonly properties?: Readonly<Record<string, string | number | boolean>>;
}

const here = dirname(fileURLToPath(import.meta.url));
const repoRoot = resolve(here, "../..");

function libsDirectory(explicit: string | undefined): string {
  const dir = explicit ?? process.env.KAFKA_LIBS_DIR ?? join(repoRoot, ".cache", "kafka-libs");
  const hasJars = existsSync(dir) && readdirSync(dir).some((f) => f.startsWith("kafka_2.13-"));
  if (!hasJars) {
    // First use on a fresh clone: fetch the jars (Maven Central) once.
    const fetch = spawnSync("bash", [join(here, "kafka", "fetch.sh")], {
      stdio: "inherit",
      env: { ...process.env, KAFKA_LIBS_DIR: dir },
    });
    if (fetch.status !== 0) {
      throw new Error(`Kafka broker jars are missing in "${dir}" and tests/support/kafka/fetch.sh failed`);
    }
  }
  return dir;
}

/**
 * Sends an ApiVersions v0 request and resolves true when a response with the
 * same correlation id and error code 0 comes back: the broker is serving
 * requests, not only accepting connections.
 */
function apiVersionsAnswers(port: number, timeoutMs = 2_000): Promise<boolean> {
  return new Promise((done) => {
    const socket = connect({ host: "127.0.0.1", port });
    let received = Buffer.alloc(0);
    const finish = (ok: boolean): void => {
      clearTimeout(timer);
      socket.destroy();
      done(ok);
    };
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on("error", () => finish(false));
    socket.on("connect", () => {
      const clientId = Buffer.from("kafka_broker.ts");
      const body = Buffer.alloc(2 + 2 + 4 + 2 + clientId.length);
      body.writeInt16BE(18, 0); // api_key ApiVersions
      body.writeInt16BE(0, 2); // api_version 0
      body.writeInt32BE(7, 4); // correlation_id
      body.writeInt16BE(clientId.length, 8);
      clientId.copy(body, 10);
      const size = Buffer.alloc(4);
      size.writeInt32BE(body.length, 0);
      socket.write(Buffer.concat([size, body]));
    });
    socket.on("data", (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length >= 10) {
        finish(received.readInt32BE(4) === 7 && received.readInt16BE(8) === 0);
      }
    });
  });
}

function serverProperties(
  dataDir: string,
  brokerPort: number,
  controllerPort: number,
  extra: KafkaBrokerOptions["properties"],
): string {
  const props: Record<string, string | number | boolean> = {
    "process.roles": "broker,controller",
    "node.id": 1,
    "controller.quorum.voters": `1@127.0.0.1:${controllerPort}`,
    "listeners": `PLAINTEXT://127.0.0.1:${brokerPort},CONTROLLER://127.0.0.1:${controllerPort}`,
    "advertised.listeners": `PLAINTEXT://127.0.0.1:${brokerPort}`,
    "controller.listener.names": "CONTROLLER",
    "inter.broker.listener.name": "PLAINTEXT",
    "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
    "log.dirs": dataDir,
    "num.partitions": 1,
    "auto.create.topics.enable": false,
    "delete.topic.enable": true,
    "offsets.topic.replication.factor": 1,
    // One partition instead of 50: the first consumer group joins in well under a second.
    "offsets.topic.num.partitions": 1,
    "transaction.state.log.replication.factor": 1,
    "transaction.state.log.min.isr": 1,
    "transaction.state.log.num.partitions": 1,
    "share.coordinator.state.topic.replication.factor": 1,
    "share.coordinator.state.topic.min.isr": 1,
    "group.initial.rebalance.delay.ms": 0,
    "log.segment.bytes": 1_048_576,
    "log.cleaner.enable": false,
    "num.network.threads": 2,
    "num.io.threads": 2,
    "background.threads": 2,
    ...extra,
  };
  return Object.entries(props).map(([k, v]) => `${k}=${String(v)}`).join("\n") + "\n";
}

const jvmOptions = [
  "-Xms64m",
  "-Xmx512m",
  "-XX:+UseSerialGC",
  "-XX:TieredStopAtLevel=1", // C1 only: the broker starts about a second sooner and tests move little data
  "-Djava.awt.headless=true",
  "-Dorg.slf4j.simpleLogger.defaultLogLevel=info",
];

/**
 * Starts a single-node KRaft broker on free loopback ports and resolves once
 * it answers an ApiVersions request.
 *
 * @throws Error with the tail of the broker log when it exits or does not answer in time.
 */
export async function startKafkaBroker(options: KafkaBrokerOptions = {}): Promise<KafkaBroker> {
  const libs = libsDirectory(options.libsDir);
  const classpath = `${libs}/*`;
  const workDir = mkdtempSync(join(tmpdir(), "atomic-metrics-kafka-"));
  const dataDir = join(workDir, "data");
  const logFile = join(workDir, "broker.log");
  const brokerPort = await freePort();
  let controllerPort = await freePort();
  while (controllerPort === brokerPort) controllerPort = await freePort();
  const propertiesFile = join(workDir, "server.properties");
  writeFileSync(propertiesFile, serverProperties(dataDir, brokerPort, controllerPort, options.properties));

  const logTail = (): string => {
    try {
      return readFileSync(logFile, "utf8").split("\n").slice(-40).join("\n");
    } catch {
      return "(no broker log)";
    }
  };

  // Kafka cluster ids are 16 random bytes in URL-safe base64 without padding;
  // passed as --cluster-id=… because an id may start with "-".
  const clusterId = randomBytes(16).toString("base64url");
  const format = spawnSync(
    "java",
    [
      ...jvmOptions,
      "-cp",
      classpath,
      "kafka.tools.StorageTool",
      "format",
      "--config",
      propertiesFile,
      `--cluster-id=${clusterId}`,
      "--ignore-formatted",
    ],
    { encoding: "utf8" },
  );
  if (format.status !== 0) {
    rmSync(workDir, { recursive: true, force: true });
    throw new Error(`Kafka storage format failed (exit ${format.status}):\n${format.stdout}\n${format.stderr}`);
  }

  const log = createWriteStream(logFile);
  const child: ChildProcess = spawn("java", [...jvmOptions, "-cp", classpath, "kafka.Kafka", propertiesFile], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stdout?.pipe(log, { end: false });
  child.stderr?.pipe(log, { end: false });
  let exited = false;
  const exitedPromise = new Promise<void>((r) =>
    child.once("exit", () => {
      exited = true;
      r();
    })
  );
  // A test process that ends without calling stop() must not leave a JVM behind:
  // on a normal exit the hook kills it; if this process is killed outright, a
  // detached watchdog notices within a second, kills the JVM and removes its data.
  const killOnExit = (): void => {
    if (!exited) child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  const watchdog = spawn(
    "bash",
    [
      "-c",
      `while kill -0 ${process.pid} 2>/dev/null && kill -0 ${child.pid} 2>/dev/null; do sleep 1; done; kill -9 ${child.pid} 2>/dev/null; sleep 1; rm -rf "$0"`,
      workDir,
    ],
    { stdio: "ignore", detached: true },
  );
  watchdog.unref();

  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    process.removeListener("exit", killOnExit);
    watchdog.kill("SIGKILL");
    if (!exited) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5_000);
      await exitedPromise;
      clearTimeout(timer);
    }
    await new Promise<void>((r) => log.end(r));
    rmSync(workDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + (options.startTimeoutMs ?? 60_000);
  while (true) {
    if (exited) {
      const tail = logTail();
      await stop();
      throw new Error(`Kafka broker exited during start-up (exit ${child.exitCode}):\n${tail}`);
    }
    if (await apiVersionsAnswers(brokerPort)) break;
    if (Date.now() > deadline) {
      const tail = logTail();
      await stop();
      throw new Error(
        `Kafka broker did not answer on 127.0.0.1:${brokerPort} within ${
          options.startTimeoutMs ?? 60_000
        } ms:\n${tail}`,
      );
    }
    await sleep(200);
  }
  return { bootstrap: `127.0.0.1:${brokerPort}`, stop };
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  // Handlers first: a signal during start-up must still stop the JVM.
  // deno-lint-ignore prefer-const -- assigned once the broker is up, read by the signal handler before that
  let broker: KafkaBroker | undefined;
  let stopping = false;
  const shutdown = (): void => {
    stopping = true;
    if (broker !== undefined) void broker.stop().then(() => process.exit(0));
  };
  process.once("SIGINT", shutdown);
  process.once("SIGTERM", shutdown);
  const started = performance.now();
  broker = await startKafkaBroker();
  if (stopping) {
    await broker.stop();
    process.exit(0);
  }
  process.stdout.write(`${broker.bootstrap}\n`);
  process.stderr.write(
    `kafka broker ready in ${Math.round(performance.now() - started)} ms; SIGTERM or Ctrl-C stops it\n`,
  );
  setInterval(() => {}, 1 << 30);
}
