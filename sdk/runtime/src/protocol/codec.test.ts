// Tests of the protocol's codecs: a round trip per message and version, the base64 cell helpers, and for every
// message a table of malformed inputs (generated from a field spec) that must decode as `unknown` with a reason
// naming the field, never throw.
import { describe, expect, it } from 'vitest';
import {
  CONTROL_READS,
  type ControlMessage,
  decodeCells,
  decodeCellValue,
  decodeControl,
  decodeLeaseHeader,
  encodeCell,
  encodeCells,
  encodeControl,
  encodeLeaseHeader,
  isLeaseGrantV1,
  isPartialV1,
  isSyncV1,
  type LeaseGrantV1,
  type LeaseHeaderV1,
  type LeaseRevokeV1,
  type LoadV1,
  type PartialV1,
  type SyncV1,
  type UnsyncV1,
  validateLoadV1,
  validateSyncV1,
  type WatermarkV1,
} from './index.ts';

const grant: LeaseGrantV1 = {
  v: 1,
  type: 'lease-grant',
  app: 'shop',
  fn: 'cart',
  key: 'user-7',
  epoch: 3,
  slot: 2,
  lessor: 'w1',
  at: 1_790_000_000_000,
};
const revoke: LeaseRevokeV1 = {
  v: 1,
  type: 'lease-revoke',
  app: 'shop',
  fn: 'cart',
  key: 'user-7',
  epoch: 3,
  seq: 5,
  slot: 2,
  replyTo: { topic: 'dirigo.lease.shop', partition: 0 },
};
const sync: SyncV1 = { ...revoke, type: 'sync', seq: 4 };
const partial: PartialV1 = {
  v: 1,
  type: 'partial',
  app: 'shop',
  fn: 'cart',
  key: 'user-7',
  epoch: 3,
  seq: 4,
  slot: 2,
  final: false,
  processed: 17,
  cells: [
    { state: 'total', value: Buffer.from('{"n":12}').toString('base64') },
    { state: 'items', value: null },
  ],
};
const unsync: UnsyncV1 = {
  v: 1,
  type: 'unsync',
  app: 'shop',
  fn: 'cart',
  key: '',
  epoch: 1,
  seq: 0,
  slot: 0,
};
const load: LoadV1 = {
  v: 1,
  type: 'load',
  worker: 'w1',
  at: 1_790_000_000_000,
  queued: 12,
  inFlight: 3,
  utilisation: 0.42,
};
const loadWithSlots: LoadV1 = { ...load, slots: { shop: [0, 2], bank: [] } };
const loadWithExactlyOnce: LoadV1 = { ...load, exactlyOnce: { shop: 'v2', bank: 'v1' } };
const loadWithBacklog: LoadV1 = { ...load, backlog: 1_234 };
const watermark: WatermarkV1 = {
  v: 1,
  type: 'watermark',
  app: 'shop',
  source: 'cart/3',
  wm: 1_790_000_000_000,
  idle: false,
};
const header: LeaseHeaderV1 = {
  v: 1,
  app: 'shop',
  fn: 'cart',
  epoch: 3,
  slot: 2,
  origin: { topic: 'shop.cart', partition: 5, offset: 123_456 },
};

const json = (x: unknown): Buffer => Buffer.from(JSON.stringify(x));

/** `obj` with `path` ('a' or 'a.b') set to `value`, or removed when `value` is `MISSING`. */
const MISSING = Symbol('missing');
function withField(obj: object, path: string, value: unknown): Record<string, unknown> {
  const copy = structuredClone(obj) as Record<string, unknown>;
  const parts = path.split('.');
  let target = copy;
  for (const p of parts.slice(0, -1)) target = target[p] as Record<string, unknown>;
  const last = parts[parts.length - 1]!;
  if (value === MISSING) delete target[last];
  else target[last] = value;
  return copy;
}

// Bad values per kind of field (MISSING: the field is left out).
type FieldKind = 'name' | 'string' | 'int1' | 'int0' | 'time' | 'unit' | 'bool' | 'topicPartition';
const BAD: Record<FieldKind, readonly unknown[]> = {
  name: [MISSING, null, 42, '', ['a'], {}],
  string: [MISSING, null, 42, true],
  int1: [MISSING, null, '1', 0, -1, 1.5, Number.MAX_SAFE_INTEGER + 2],
  int0: [MISSING, null, '0', -1, 0.5, true],
  time: [MISSING, null, '1790000000000', -1],
  unit: [MISSING, null, '0.5', -0.1, 1.1],
  bool: [MISSING, null, 'true', 1],
  topicPartition: [MISSING, null, 'topic:0', [], 7],
};

/** [field path, bad value, path named in the reason] for every field of a spec. */
function badCases(spec: Record<string, FieldKind>): [string, unknown, string][] {
  const out: [string, unknown, string][] = [];
  for (const [path, kind] of Object.entries(spec)) {
    for (const bad of BAD[kind]) out.push([path, bad, path]);
    if (kind === 'topicPartition') {
      for (const bad of BAD.name) out.push([`${path}.topic`, bad, `${path}.topic`]);
      for (const bad of BAD.int0) out.push([`${path}.partition`, bad, `${path}.partition`]);
    }
  }
  return out;
}

const leaseId = { app: 'name', fn: 'name', key: 'string', epoch: 'int1' } as const;
const SPECS: [ControlMessage, Record<string, FieldKind>][] = [
  [grant, { ...leaseId, slot: 'int0', lessor: 'name', at: 'time' }],
  [revoke, { ...leaseId, seq: 'int0', slot: 'int0', replyTo: 'topicPartition' }],
  [sync, { ...leaseId, seq: 'int0', slot: 'int0', replyTo: 'topicPartition' }],
  [partial, { ...leaseId, seq: 'int0', slot: 'int0', final: 'bool', processed: 'int0' }],
  [unsync, { ...leaseId, seq: 'int0', slot: 'int0' }],
  [load, { worker: 'name', at: 'time', queued: 'int0', inFlight: 'int0', utilisation: 'unit' }],
  [watermark, { app: 'name', source: 'name', idle: 'bool' }],
];

const show = (x: unknown): string => (x === MISSING ? 'missing' : JSON.stringify(x));

function expectUnknown(value: Buffer | null, ...fragments: string[]): string {
  const d = decodeControl(value);
  expect(d.kind).toBe('unknown');
  const reason = d.kind === 'unknown' ? d.reason : '';
  for (const f of fragments) expect(reason).toContain(f);
  return reason;
}

describe('control codec: round trips', () => {
  it.each([
    ['lease-grant v1', grant],
    ['lease-revoke v1', revoke],
    ['sync v1', sync],
    ['partial v1', partial],
    ['partial v1, final, no cells', { ...partial, final: true, processed: 0, cells: [] }],
    ['unsync v1', unsync],
    ['load v1', load],
    ['load v1 with slots', loadWithSlots],
    ['load v1 with exactly-once protocols', loadWithExactlyOnce],
    ['load v1 with a backlog', loadWithBacklog],
    ['watermark v1', watermark],
    ['watermark v1, none yet, idle', { ...watermark, wm: null, idle: true }],
  ] as [string, ControlMessage][])('%s', (_name, message) => {
    const encoded = encodeControl(message);
    expect(JSON.parse(encoded.toString('utf8'))).toEqual(message);
    expect(decodeControl(encoded)).toEqual({ kind: 'known', message });
  });

  it('keeps a key that is empty or not ASCII', () => {
    for (const key of ['', 'é€😀', 'a\u0000b']) {
      const m = { ...sync, key };
      expect(decodeControl(encodeControl(m))).toEqual({ kind: 'known', message: m });
    }
  });

  it('reads a field a later v1 writer added, and keeps it', () => {
    const d = decodeControl(json({ ...unsync, reason: 'rebalance' }));
    expect(d).toEqual({ kind: 'known', message: { ...unsync, reason: 'rebalance' } });
  });

  it('reads a load report without slots (an older writer) and one with slots', () => {
    expect(validateLoadV1(load)).toBeUndefined();
    expect(validateLoadV1({ ...load, slots: {} })).toBeUndefined();
    expect(validateLoadV1(loadWithSlots)).toBeUndefined();
    expect(validateLoadV1({ ...load, backlog: -1 })).toContain("'backlog'");
  });
});

describe('control codec: envelopes it does not understand', () => {
  const envelopes: [string, Buffer | null, ...string[]][] = [
    ['a null value', null, 'null value'],
    ['bad JSON', Buffer.from('{"v":1,'), 'not JSON'],
    ['an empty value', Buffer.alloc(0), 'not JSON'],
    ['bytes that are not UTF-8 JSON', Buffer.from([0xff, 0xfe, 0x00, 0x7b]), 'not JSON'],
    ['JSON null', json(null), 'not an object'],
    ['a JSON number', json(42), 'not an object'],
    ['a JSON string', json('sync'), 'not an object'],
    ['a JSON array', json([sync]), 'not an object'],
    ['no type', json(withField(sync, 'type', MISSING)), "'type'"],
    ['a type that is not a string', json({ ...sync, type: 7 }), "'type'"],
    ['no version', json(withField(sync, 'v', MISSING)), "'v'"],
    ['a version that is a string', json({ ...sync, v: '1' }), "'v'"],
    ['version 0', json({ ...sync, v: 0 }), "'v'"],
    ['a fractional version', json({ ...sync, v: 1.5 }), "'v'"],
    ['an unknown type', json({ ...sync, type: 'gossip' }), "type 'gossip' version 1", 'this worker reads'],
    ['a type named like an Object member', json({ ...sync, type: 'constructor' }), "type 'constructor'"],
    ['a type named __proto__', Buffer.from('{"v":1,"type":"__proto__"}'), "type '__proto__'"],
  ];
  it.each(envelopes)('%s', (_name, value, ...fragments) => {
    expectUnknown(value, ...fragments);
  });

  it.each(SPECS.map(([m]) => [m.type, m] as const))('a future version (v:2) of %s is unknown', (type, m) => {
    const reason = expectUnknown(json({ ...m, v: 2 }), `type '${type}' version 2`, 'this worker reads');
    for (const r of CONTROL_READS) expect(reason).toContain(r);
  });

  it('cuts a long type in the reason', () => {
    const reason = expectUnknown(json({ ...sync, type: 'x'.repeat(10_000) }), 'version 1');
    expect(reason.length).toBeLessThan(300);
  });
});

describe.each(SPECS.map(([m, spec]) => [m.type, m, spec] as const))(
  'control codec: malformed %s v1',
  (type, m, spec) => {
    it.each(badCases(spec).map(([path, bad, named]) => [path, show(bad), bad, named] as const))(
      "'%s' = %s is unknown, naming the field",
      (path, _shown, bad, named) => {
        expectUnknown(json(withField(m, path, bad)), `${type} v1: '${named}' must`);
      },
    );
  },
);

describe('control codec: malformed partial cells', () => {
  const cell = (c: unknown) => json({ ...partial, cells: [partial.cells[0], c] });
  it.each([
    ['cells missing', json(withField(partial, 'cells', MISSING)), "'cells' must be an array"],
    ['cells an object', json({ ...partial, cells: { total: null } }), "'cells' must be an array"],
    ['a cell not an object', cell('total'), "'cells[1]' must be an object"],
    ['a cell null', cell(null), "'cells[1]' must be an object"],
    ['a cell without state', cell({ value: null }), "'cells[1].state' must be a non-empty string"],
    ['a cell with an empty state', cell({ state: '', value: null }), "'cells[1].state'"],
    ['a cell with a numeric state', cell({ state: 1, value: null }), "'cells[1].state'"],
    ['a duplicate state', cell({ state: 'total', value: null }), "'cells[1].state' duplicates state 'total'"],
    ['a cell without value', cell({ state: 'x' }), "'cells[1].value' must be a base64 string or null"],
    ['a numeric value', cell({ state: 'x', value: 12 }), "'cells[1].value'"],
    ['a byte-array value', cell({ state: 'x', value: [1, 2] }), "'cells[1].value'"],
    ['unpadded base64', cell({ state: 'x', value: 'YWJj ZA' }), "'cells[1].value'"],
    ['base64 of a wrong length', cell({ state: 'x', value: 'YWJjZA=' }), "'cells[1].value'"],
    ['base64 with a bad character', cell({ state: 'x', value: 'YW!j' }), "'cells[1].value'"],
    ['base64url', cell({ state: 'x', value: '-_-_' }), "'cells[1].value'"],
    ['only padding', cell({ state: 'x', value: '====' }), "'cells[1].value'"],
  ])('%s', (_name, value, fragment) => {
    expectUnknown(value, `partial v1: ${fragment}`);
  });

  it('finds a duplicate state among many cells', () => {
    const cells = Array.from({ length: 40 }, (_, i) => ({ state: `s${i}`, value: null }));
    expect(validatePartialV1Reason({ ...partial, cells })).toBeUndefined();
    cells.push({ state: 's3', value: null });
    expect(validatePartialV1Reason({ ...partial, cells })).toContain(
      "'cells[40].state' duplicates state 's3'",
    );
  });
});

function validatePartialV1Reason(m: unknown): string | undefined {
  const d = decodeControl(json(m));
  return d.kind === 'unknown' ? d.reason : undefined;
}

describe('control codec: malformed load slots', () => {
  it.each([
    ['null', null, "'slots' must be an object"],
    ['a string', 'shop:0', "'slots' must be an object"],
    ['an array', [0, 1], "'slots' must be an object"],
    ['an app with a number', { shop: 1 }, "'slots.shop' must be an array"],
    ['an app with a negative slot', { shop: [0, -1] }, "'slots.shop[1]' must be an integer >= 0"],
    ['an app with a fractional slot', { shop: [0.5] }, "'slots.shop[0]'"],
    ['an app with a string slot', { bank: [], shop: ['0'] }, "'slots.shop[0]'"],
  ])('slots %s', (_name, slots, fragment) => {
    expectUnknown(json({ ...load, slots }), `load v1: ${fragment}`);
  });
});

describe('control codec: malformed load exactly-once protocols', () => {
  it.each([
    ['null', null, "'exactlyOnce' must be an object"],
    ['an array', ['v2'], "'exactlyOnce' must be an object"],
    ['an app with another version', { shop: 'v3' }, "'exactlyOnce.shop' must be 'v1' or 'v2'"],
    ['an app with a number', { bank: 'v1', shop: 2 }, "'exactlyOnce.shop' must be 'v1' or 'v2'"],
  ])('exactlyOnce %s', (_name, exactlyOnce, fragment) => {
    expectUnknown(json({ ...load, exactlyOnce }), `load v1: ${fragment}`);
  });
});

describe('validators', () => {
  it('check the envelope too, for use on their own', () => {
    expect(validateSyncV1(sync)).toBeUndefined();
    expect(isSyncV1(sync)).toBe(true);
    expect(validateSyncV1(unsync)).toBe("sync v1: 'type' must be 'sync'");
    expect(validateSyncV1({ ...sync, v: 2 })).toBe("sync v1: 'v' must be 1");
    expect(validateSyncV1(null)).toBe('sync v1: not an object');
    expect(isLeaseGrantV1({ ...grant, epoch: 0 })).toBe(false);
    expect(isPartialV1(partial)).toBe(true);
  });
});

describe('partial cells as bytes', () => {
  // A small deterministic PRNG (mulberry32), so failures reproduce.
  function prng(seed: number): () => number {
    let a = seed >>> 0;
    return () => {
      a = (a + 0x6d2b79f5) >>> 0;
      let t = a;
      t = Math.imul(t ^ (t >>> 15), t | 1);
      t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
      return ((t ^ (t >>> 14)) >>> 0) / 4_294_967_296;
    };
  }

  it('round-trip arbitrary bytes, through a whole PARTIAL too', () => {
    const random = prng(7);
    for (let round = 0; round < 200; round++) {
      const length = round < 8 ? round : Math.floor(random() * 600);
      const bytes = Buffer.alloc(length);
      for (let i = 0; i < length; i++) bytes[i] = Math.floor(random() * 256);
      const cells = encodeCells([
        { state: 'a', value: bytes },
        { state: 'b', value: null },
      ]);
      expect(decodeCells(cells)).toEqual([
        { state: 'a', value: bytes },
        { state: 'b', value: null },
      ]);
      const m: PartialV1 = { ...partial, cells };
      const d = decodeControl(encodeControl(m));
      expect(d.kind).toBe('known');
      if (d.kind === 'known' && d.message.type === 'partial') {
        expect(decodeCellValue(d.message.cells[0]!)).toEqual(bytes);
        expect(decodeCellValue(d.message.cells[1]!)).toBeNull();
      }
    }
  });

  it('keep an empty value apart from identity (null)', () => {
    expect(encodeCell('s', Buffer.alloc(0))).toEqual({ state: 's', value: '' });
    expect(decodeCellValue({ state: 's', value: '' })).toEqual(Buffer.alloc(0));
    expect(encodeCell('s', null)).toEqual({ state: 's', value: null });
    expect(decodeCellValue({ state: 's', value: null })).toBeNull();
  });

  it('take a Uint8Array view at an offset, not the whole underlying buffer', () => {
    const backing = new Uint8Array([9, 9, 1, 2, 3, 9]);
    const view = backing.subarray(2, 5);
    expect(decodeCellValue(encodeCell('s', view))).toEqual(Buffer.from([1, 2, 3]));
  });
});

describe('lease header of forwarded messages', () => {
  it('round-trips', () => {
    expect(decodeLeaseHeader(encodeLeaseHeader(header))).toEqual({ kind: 'known', message: header });
  });

  it("round-trips the optional forwarding time 'at', and drops an invalid one (a measure, not a reason to refuse)", () => {
    const timed = { ...header, at: 1_796_421_666_078 };
    expect(decodeLeaseHeader(encodeLeaseHeader(timed))).toEqual({ kind: 'known', message: timed });
    for (const at of [-1, 1.5, '1796421666078', null]) {
      expect(decodeLeaseHeader(json({ ...header, at }))).toEqual({ kind: 'known', message: header });
    }
  });

  it.each([
    ['no header', undefined, 'no dirigo-lease header'],
    ['a null header', null, 'no dirigo-lease header'],
    ['bad JSON', Buffer.from('{'), 'not JSON'],
    ['an array', json([header]), 'not an object'],
    ['no version', json(withField(header, 'v', MISSING)), "'v'"],
    ['a string version', json({ ...header, v: '1' }), "'v'"],
    [
      'a future version',
      json({ ...header, v: 2 }),
      'lease header version 2',
      'this worker reads lease header v1',
    ],
  ])('%s is unknown', (_name, value, ...fragments) => {
    const d = decodeLeaseHeader(value);
    expect(d.kind).toBe('unknown');
    for (const f of fragments) expect(d.kind === 'unknown' && d.reason).toContain(f);
  });

  const spec: Record<string, FieldKind> = {
    app: 'name',
    fn: 'name',
    epoch: 'int1',
    slot: 'int0',
    origin: 'name',
  };
  const cases: [string, unknown, string][] = [
    ...badCases(spec).filter(([path]) => path !== 'origin'),
    ...[MISSING, null, 'shop.cart:5:123', []].map((bad): [string, unknown, string] => [
      'origin',
      bad,
      'origin',
    ]),
    ...BAD.name.map((bad): [string, unknown, string] => ['origin.topic', bad, 'origin.topic']),
    ...BAD.int0.map((bad): [string, unknown, string] => ['origin.partition', bad, 'origin.partition']),
    ...BAD.int0.map((bad): [string, unknown, string] => ['origin.offset', bad, 'origin.offset']),
  ];
  it.each(cases.map(([path, bad, named]) => [path, show(bad), bad, named] as const))(
    "'%s' = %s is unknown, naming the field",
    (path, _shown, bad, named) => {
      const d = decodeLeaseHeader(json(withField(header, path, bad)));
      expect(d.kind).toBe('unknown');
      expect(d.kind === 'unknown' && d.reason).toContain(`lease header v1: '${named}' must`);
    },
  );
});

describe('decoders never throw', () => {
  it('on deeply nested JSON', () => {
    const deep = Buffer.from(`${'['.repeat(200_000)}${']'.repeat(200_000)}`);
    expect(() => decodeControl(deep)).not.toThrow();
    expect(() => decodeLeaseHeader(deep)).not.toThrow();
  });

  it('on random mutations of valid messages', () => {
    let seed = 1;
    const random = (): number => {
      seed = (seed * 16_807) % 2_147_483_647;
      return seed / 2_147_483_647;
    };
    const values: unknown[] = [null, true, 0, -1, 1.5, 2 ** 60, '', 'x', [], [1], {}, { topic: 't' }];
    const samples: object[] = [...SPECS.map(([m]) => m), loadWithSlots, header];
    for (let i = 0; i < 2_000; i++) {
      const base = samples[Math.floor(random() * samples.length)]!;
      const fields = Object.keys(base);
      const field = fields[Math.floor(random() * fields.length)]!;
      const value = values[Math.floor(random() * values.length)];
      const bytes = json({ ...base, [field]: value });
      if (random() < 0.2) bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      let d: ReturnType<typeof decodeControl> | undefined;
      expect(() => {
        d = decodeControl(bytes);
        decodeLeaseHeader(bytes);
      }).not.toThrow();
      // Whatever it accepted, re-encodes and decodes to the same message.
      if (d?.kind === 'known') expect(decodeControl(encodeControl(d.message))).toEqual(d);
    }
  });
});

describe('watermark v1', () => {
  it.each([
    ['missing', undefined],
    ['a string', '1790000000000'],
    ['not finite', 'Infinity'],
  ])('rejects a wm that is %s, naming it', (_name, wm) => {
    const m = {
      v: 1,
      type: 'watermark',
      app: 'a',
      source: 'f/0',
      idle: false,
      ...(wm === undefined ? {} : { wm }),
    };
    expectUnknown(json(m), "'wm'");
  });
});
