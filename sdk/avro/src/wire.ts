// The Confluent wire format of a record value or key: magic byte 0, the schema id as a 4-byte big-endian
// integer, then the Avro binary encoding of the value with that (writer) schema.
//
//   0       1               5
//   +-------+---------------+---------------------------+
//   | 0x00  | schema id (BE)| Avro binary body          |
//   +-------+---------------+---------------------------+
import { SerdeError } from '@dirigo/core';

export const MAGIC = 0;
export const HEADER_BYTES = 5;

/** The schema id of a framed value, or undefined when the bytes are not in the wire format. */
export function schemaIdOf(data: Buffer): number | undefined {
  return data.length >= HEADER_BYTES && data[0] === MAGIC ? data.readInt32BE(1) : undefined;
}

/** Why `data` is not in the wire format (for a SerdeError). */
export function notFramed(name: string, data: Buffer): SerdeError {
  const start = data.subarray(0, 8).toString('hex');
  return new SerdeError(
    data.length < HEADER_BYTES
      ? `${name}: ${data.length} bytes, too short for the Confluent wire format (magic byte + 4-byte schema id)`
      : `${name}: not in the Confluent wire format (first byte 0x${start.slice(0, 2)}, expected 0x00; starts 0x${start})`,
  );
}

/** Frames an Avro body with its schema id. */
export function frame(id: number, body: Buffer): Buffer {
  const out = Buffer.allocUnsafe(HEADER_BYTES + body.length);
  out[0] = MAGIC;
  out.writeInt32BE(id, 1);
  body.copy(out, HEADER_BYTES);
  return out;
}
