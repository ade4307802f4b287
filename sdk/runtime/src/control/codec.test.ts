import { describe, expect, it } from 'vitest';
import { decodeControl, encodeControl, type LoadReport } from './codec.ts';

const report: LoadReport = {
  v: 1,
  type: 'load',
  worker: 'w1',
  at: 1_790_000_000_000,
  queued: 12,
  inFlight: 3,
  utilisation: 0.42,
};

// The load-report view of the protocol codec (the protocol's own tests are in ../protocol/codec.test.ts).
describe('control codec v1', () => {
  it('round-trips a load report', () => {
    expect(decodeControl(encodeControl(report))).toEqual({ kind: 'known', message: report });
  });
  it('round-trips a load report with lease slots', () => {
    const withSlots: LoadReport = { ...report, slots: { shop: [0, 3] } };
    expect(decodeControl(encodeControl(withSlots))).toEqual({ kind: 'known', message: withSlots });
  });
  it.each([
    ['bad JSON', Buffer.from('{'), 'not JSON'],
    ['null', null, 'null value'],
    ['a newer version', Buffer.from(JSON.stringify({ ...report, v: 2 })), 'version 2'],
    ['an unknown type', Buffer.from(JSON.stringify({ ...report, type: 'gossip' })), "type 'gossip'"],
    [
      'a lease message (not a load report)',
      Buffer.from(
        JSON.stringify({ v: 1, type: 'unsync', app: 'a', fn: 'f', key: 'k', epoch: 1, seq: 0, slot: 0 }),
      ),
      "type 'unsync' version 1: not a load report",
    ],
    ['an invalid field', Buffer.from(JSON.stringify({ ...report, queued: -1 })), "'queued'"],
  ])('reports %s as unknown instead of throwing', (_name, value, reason) => {
    const d = decodeControl(value);
    expect(d.kind).toBe('unknown');
    expect(d.kind === 'unknown' && d.reason).toContain(reason);
  });
});
