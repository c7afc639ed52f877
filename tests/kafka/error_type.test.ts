import { describe, it } from "node:test";
import assert from "node:assert/strict";
import { kafkaErrorType } from "../../src/kafka/error_type.ts";

describe("kafkaErrorType", () => {
  it("kafkaErrorType() prefers the KafkaJS-style string type", () => {
    const error = Object.assign(new Error("Broker: Unknown topic or partition"), {
      type: "ERR_UNKNOWN_TOPIC_OR_PART",
      code: 99,
    });
    assert.equal(kafkaErrorType(error), "ERR_UNKNOWN_TOPIC_OR_PART");
  });

  it("kafkaErrorType() names common librdkafka codes without a table", () => {
    assert.equal(kafkaErrorType(Object.assign(new Error("x"), { code: 3 })), "ERR_UNKNOWN_TOPIC_OR_PART");
    assert.equal(kafkaErrorType(Object.assign(new Error("x"), { code: -192 })), "ERR__MSG_TIMED_OUT");
  });

  it("kafkaErrorType() looks codes up in the given table first, else code_<n>", () => {
    assert.equal(kafkaErrorType({ code: -5000 }, { ERR_SOMETHING: -5000 }), "ERR_SOMETHING");
    assert.equal(kafkaErrorType({ code: 4242 }), "code_4242");
  });

  it("kafkaErrorType() falls back to the error name, then unknown", () => {
    assert.equal(kafkaErrorType(new TypeError("bad")), "TypeError");
    assert.equal(kafkaErrorType("a string"), "unknown");
    assert.equal(kafkaErrorType(null), "unknown");
    assert.equal(kafkaErrorType({}), "unknown");
  });

  it("kafkaErrorType() bounds the label: at most 64 characters of [A-Za-z0-9_.-]", () => {
    const label = kafkaErrorType({ type: `bad type {"x"}\n${"y".repeat(200)}` });
    assert.equal(label.length, 64);
    assert.match(label, /^[A-Za-z0-9_.-]+$/);
  });
});
