/**
 * Kafka metrics and trace propagation for `@confluentinc/kafka-javascript`:
 * instrument your own producers and consumers of its KafkaJS-compatible API
 * (`KafkaJS.Kafka`) or its rdkafka-style API (`Producer`, `KafkaConsumer`).
 * Nothing here imports the client: the functions take the objects you made.
 *
 * @example Instrument a KafkaJS-style producer
 * ```ts ignore
 * import { KafkaJS } from "@confluentinc/kafka-javascript";
 * import { Registry } from "@atomic/metrics";
 * import { instrumentKafkaJsProducer } from "@atomic/metrics/kafka";
 * const registry = new Registry();
 * const producer = new KafkaJS.Kafka({ kafkaJS: { brokers: ["localhost:9092"] } }).producer();
 * instrumentKafkaJsProducer(producer, { registry });
 * ```
 *
 * @module
 */

export { kafkaErrorType } from "./error_type.ts";
export type {
  KafkaConsumerInstrumentation,
  KafkaConsumerInstrumentationOptions,
  KafkaInstrumentation,
  KafkaInstrumentationOptions,
} from "./instrumentation_options.ts";
export { type KafkaMetrics, kafkaMetrics, type KafkaMetricsOptions } from "./kafka_metrics.ts";
export {
  instrumentKafkaJsConsumer,
  type KafkaJsAdminLike,
  type KafkaJsConsumedMessage,
  type KafkaJsConsumerLike,
  type KafkaJsEachBatchPayload,
  type KafkaJsEachMessagePayload,
  type KafkaJsRunConfig,
} from "./kafkajs_consumer.ts";
export {
  instrumentKafkaJsProducer,
  type KafkaJsProducerLike,
  type KafkaJsProducerMessage,
} from "./kafkajs_producer.ts";
export {
  instrumentRdkafkaConsumer,
  type RdkafkaCallback,
  type RdkafkaConsumerLike,
  type RdkafkaMessage,
} from "./rdkafka_consumer.ts";
export { instrumentRdkafkaProducer, type RdkafkaProducerLike } from "./rdkafka_producer.ts";
export {
  extractKafkaHeaders,
  injectKafkaHeaders,
  type KafkaHeaderList,
  type KafkaHeaderObject,
  type KafkaHeaders,
  kafkaHeadersGetter,
  kafkaHeadersSetter,
} from "../otel/kafka_headers.ts";
