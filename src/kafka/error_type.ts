/**
 * The `error_type` label of `kafka_errors_total`: a short, bounded name for a
 * Kafka client error.
 *
 * @module
 */

// librdkafka error codes most often seen by applications, named as the
// client's `CODES.ERRORS` names them (and as its KafkaJS layer sets `type`),
// so the rdkafka-style and KafkaJS-style APIs label the same error alike.
const commonCodes: Readonly<Record<number, string>> = {
  [-199]: "ERR__BAD_MSG",
  [-198]: "ERR__BAD_COMPRESSION",
  [-197]: "ERR__DESTROY",
  [-196]: "ERR__FAIL",
  [-195]: "ERR__TRANSPORT",
  [-193]: "ERR__RESOLVE",
  [-192]: "ERR__MSG_TIMED_OUT",
  [-191]: "ERR__PARTITION_EOF",
  [-190]: "ERR__UNKNOWN_PARTITION",
  [-188]: "ERR__UNKNOWN_TOPIC",
  [-187]: "ERR__ALL_BROKERS_DOWN",
  [-186]: "ERR__INVALID_ARG",
  [-185]: "ERR__TIMED_OUT",
  [-184]: "ERR__QUEUE_FULL",
  [-181]: "ERR__SSL",
  [-172]: "ERR__STATE",
  [-170]: "ERR__NOT_IMPLEMENTED",
  [-169]: "ERR__AUTHENTICATION",
  [-168]: "ERR__NO_OFFSET",
  [-165]: "ERR__INVALID_TYPE",
  [-150]: "ERR__FATAL",
  [1]: "ERR_OFFSET_OUT_OF_RANGE",
  [2]: "ERR_INVALID_MSG",
  [3]: "ERR_UNKNOWN_TOPIC_OR_PART",
  [5]: "ERR_LEADER_NOT_AVAILABLE",
  [6]: "ERR_NOT_LEADER_FOR_PARTITION",
  [7]: "ERR_REQUEST_TIMED_OUT",
  [10]: "ERR_MSG_SIZE_TOO_LARGE",
  [15]: "ERR_COORDINATOR_NOT_AVAILABLE",
  [16]: "ERR_NOT_COORDINATOR",
  [17]: "ERR_TOPIC_EXCEPTION",
  [22]: "ERR_ILLEGAL_GENERATION",
  [25]: "ERR_UNKNOWN_MEMBER_ID",
  [27]: "ERR_REBALANCE_IN_PROGRESS",
  [29]: "ERR_TOPIC_AUTHORIZATION_FAILED",
  [30]: "ERR_GROUP_AUTHORIZATION_FAILED",
  [87]: "ERR_INVALID_RECORD",
};

const maxLength = 64;

function clean(name: string): string | undefined {
  const cleaned = name.replace(/[^A-Za-z0-9_.-]/g, "_").slice(0, maxLength);
  return cleaned.length > 0 ? cleaned : undefined;
}

/**
 * Names a Kafka client error for the `error_type` label, in this order: the
 * error's string `type` (the KafkaJS-style API's, e.g.
 * `ERR_UNKNOWN_TOPIC_OR_PART`); its numeric librdkafka `code` looked up in
 * `codes` (pass the client's `CODES.ERRORS` for every code) or in a built-in
 * table of the common ones, else `code_<n>`; its `name` (e.g. `TypeError`);
 * else `unknown`. The result has at most 64 characters of `[A-Za-z0-9_.-]`,
 * so the label's cardinality stays bounded.
 *
 * @param error Whatever was thrown or reported.
 * @param codes Error names to codes, as the client's `CODES.ERRORS`.
 * @returns The label value.
 *
 * @example Both client APIs label an unknown topic alike
 * ```ts
 * import { kafkaErrorType } from "@atomic/metrics/kafka";
 * const kafkaJsStyle = Object.assign(new Error("Broker: Unknown topic or partition"), { type: "ERR_UNKNOWN_TOPIC_OR_PART", code: 3 });
 * const rdkafkaStyle = Object.assign(new Error("Broker: Unknown topic or partition"), { code: 3 });
 * if (kafkaErrorType(kafkaJsStyle) !== kafkaErrorType(rdkafkaStyle)) throw new Error("labels differ");
 * if (kafkaErrorType(new TypeError("x")) !== "TypeError") throw new Error("not named");
 * ```
 */
export function kafkaErrorType(error: unknown, codes?: Readonly<Record<string, number>>): string {
  if (typeof error !== "object" || error === null) return "unknown";
  const { type, code, name } = error as { type?: unknown; code?: unknown; name?: unknown };
  if (typeof type === "string") {
    const cleaned = clean(type);
    if (cleaned !== undefined) return cleaned;
  }
  if (typeof code === "number" && Number.isInteger(code)) {
    if (codes !== undefined) {
      for (const key of Object.keys(codes)) {
        if (codes[key] === code) return clean(key) ?? `code_${code}`;
      }
    }
    return commonCodes[code] ?? `code_${code}`;
  }
  if (typeof name === "string") {
    const cleaned = clean(name);
    if (cleaned !== undefined) return cleaned;
  }
  return "unknown";
}
