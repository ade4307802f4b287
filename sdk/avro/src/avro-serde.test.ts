// The Avro serdes on an in-memory registry: wire format, caching of writer schemas, schema evolution, and the
// reasons an undecodable record gets. The same serdes against a real registry: integration-tests/src/avro.test.ts.
import { SerdeError } from '@dirigo/core';
import type { Schema } from 'avsc';
import { describe, expect, it } from 'vitest';
import { avro, avroKey } from './avro-serde.ts';
import { MemoryRegistry } from './registry.ts';
import { frame } from './wire.ts';

const V1: Schema = {
  type: 'record',
  name: 'Bid',
  fields: [
    { name: 'auction', type: 'long' },
    { name: 'price', type: 'long' },
  ],
};
const V2: Schema = {
  type: 'record',
  name: 'Bid',
  fields: [
    { name: 'auction', type: 'long' },
    { name: 'price', type: 'long' },
    { name: 'channel', type: 'string', default: 'web' },
  ],
};

describe('avro()', () => {
  it('registers at open and writes magic byte 0, the 4-byte schema id and the Avro body', async () => {
    const registry = new MemoryRegistry();
    await registry.register('other', { type: 'string' }); // id 1
    const s = avro<{ auction: number; price: number }>({ schema: V1, subject: 'bids-value', registry });
    await s.open();
    expect(s.schemaId).toBe(2);
    const bytes = s.serialize({ auction: 7, price: 100 });
    expect(bytes.subarray(0, 5).toString('hex')).toBe('0000000002');
    expect(bytes.subarray(5)).toEqual(s.type.toBuffer({ auction: 7, price: 100 }));
    expect(s.prepare(bytes)).toBeUndefined(); // its own id is known: nothing to fetch
    expect(s.deserialize(bytes)).toEqual({ auction: 7, price: 100 });
  });

  it('fetches a writer schema once per id and reads old and new records as the reader schema', async () => {
    const registry = new MemoryRegistry();
    const w1 = avro({ schema: V1, subject: 'bids-value', registry });
    const w2 = avro({ schema: V2, subject: 'bids-value', registry });
    await w1.open();
    await w2.open();
    const old = w1.serialize({ auction: 1, price: 5 });
    const neu = w2.serialize({ auction: 2, price: 6, channel: 'app' });

    const readV2 = avro({ schema: V2, registry }); // no subject: decode only
    const before = registry.requests;
    const p = readV2.prepare(old);
    expect(p).toBeInstanceOf(Promise);
    expect(readV2.prepare(old)).toBe(p); // one fetch in flight per id
    await p;
    expect(readV2.prepare(old)).toBeUndefined();
    await readV2.prepare(neu);
    expect(registry.requests - before).toBe(2);
    expect(readV2.deserialize(old)).toEqual({ auction: 1, price: 5, channel: 'web' }); // default filled in
    expect(readV2.deserialize(neu)).toEqual({ auction: 2, price: 6, channel: 'app' });

    const readV1 = avro({ schema: V1, registry });
    await readV1.prepare(neu);
    expect(readV1.deserialize(neu)).toEqual({ auction: 2, price: 6 }); // added field dropped
    expect(() => readV2.serialize({ auction: 1, price: 1, channel: 'x' })).toThrow(/only decodes/);
  });

  it('fails with the reason: unknown id, unreadable writer schema, not framed, corrupt body', async () => {
    const registry = new MemoryRegistry();
    const r = avro({ schema: V2, subject: 'bids-value', registry });
    await r.open();
    const unknown = frame(99, Buffer.from([2, 4]));
    await r.prepare(unknown);
    expect(() => r.deserialize(unknown)).toThrow(SerdeError);
    expect(() => r.deserialize(unknown)).toThrow(/schema id 99 is not in the registry at memory:/);

    const other = avro({
      schema: { type: 'record', name: 'Bid', fields: [{ name: 'x', type: 'string' }] },
      subject: 's',
      registry,
    });
    await other.open();
    const incompatible = other.serialize({ x: 'a' });
    await r.prepare(incompatible);
    expect(() => r.deserialize(incompatible)).toThrow(/cannot be read with the reader schema/);

    expect(() => r.deserialize(Buffer.from('{"auction":1}'))).toThrow(
      /not in the Confluent wire format \(first byte 0x7b/,
    );
    expect(() => r.deserialize(Buffer.from([0, 0]))).toThrow(/too short/);
    expect(() => r.deserialize(frame(r.schemaId!, Buffer.from([0xff])))).toThrow(
      /cannot decode 6 bytes written with schema id/,
    );
    expect(() => r.serialize({ auction: 'no' } as never)).toThrow(
      /does not match the schema \(auction: "no" is not long/,
    );
  });

  it('a registry that cannot be reached rejects prepare (the step is retried), and a later prepare asks again', async () => {
    const registry = new MemoryRegistry();
    const w = avro({ schema: V1, subject: 'b', registry });
    await w.open();
    const bytes = w.serialize({ auction: 1, price: 2 });
    let down = true;
    const flaky = {
      url: 'flaky:',
      register: registry.register.bind(registry),
      lookup: registry.lookup.bind(registry),
      schemaById: (id: number) =>
        down ? Promise.reject(new Error('ECONNREFUSED')) : registry.schemaById(id),
    };
    const r = avro({ schema: V1, registry: flaky });
    await expect(r.prepare(bytes)).rejects.toThrow(/ECONNREFUSED/);
    down = false;
    await r.prepare(bytes);
    expect(r.deserialize(bytes)).toEqual({ auction: 1, price: 2 });
  });

  it('autoRegister: false looks the schema up, and open fails with what to do when it is missing', async () => {
    const registry = new MemoryRegistry();
    const s = avro({ schema: V1, subject: 'bids-value', registry, autoRegister: false });
    await expect(s.open()).rejects.toThrow(
      /could not find the schema under subject 'bids-value' at memory:.*register it first/,
    );
    await registry.register('bids-value', V1);
    await s.open();
    expect(s.schemaId).toBe(1);
  });
});

describe('avroKey()', () => {
  it('shows string keys as themselves and other keys as their JSON text, both ways', async () => {
    const registry = new MemoryRegistry();
    const str = avroKey({ schema: 'string', subject: 'k-key', registry });
    const lng = avroKey({ schema: 'long', subject: 'n-key', registry });
    const rec = avroKey({
      schema: { type: 'record', name: 'K', fields: [{ name: 'id', type: 'int' }] },
      subject: 'r-key',
      registry,
    });
    await Promise.all([str.open(), lng.open(), rec.open()]);
    expect(str.deserialize(str.serialize('user-1'))).toBe('user-1');
    expect(lng.serialize('42').subarray(0, 1)[0]).toBe(0);
    expect(lng.deserialize(lng.serialize('42'))).toBe('42');
    expect(rec.deserialize(rec.serialize('{"id":7}'))).toBe('{"id":7}');
    expect(() => lng.serialize('x')).toThrow(/is not the JSON text of a key/);
  });
});
