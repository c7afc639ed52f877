/**
 * Byte size of a Kafka message value, without copying it. Private.
 *
 * @module
 */

/**
 * Bytes a message value takes on the wire: a Uint8Array's (Buffer's) length,
 * a string's UTF-8 length, 0 for null/undefined and anything else.
 */
export function payloadBytes(value: unknown): number {
  if (value instanceof Uint8Array) return value.byteLength;
  if (typeof value === "string") return utf8Length(value);
  if (value instanceof ArrayBuffer) return value.byteLength;
  return 0;
}

// Counts UTF-8 bytes of a string without encoding it (no allocation).
function utf8Length(value: string): number {
  let bytes = 0;
  for (let i = 0; i < value.length; i++) {
    const code = value.charCodeAt(i);
    if (code < 0x80) bytes += 1;
    else if (code < 0x800) bytes += 2;
    else if (code >= 0xd800 && code <= 0xdbff && i + 1 < value.length) {
      const next = value.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}
