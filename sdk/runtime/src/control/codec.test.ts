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

describe('control codec v1', () => {
  it('round-trips a load report', () => {
    expect(decodeControl(encodeControl(report))).toEqual({ kind: 'known', message: report });
  });
  it.each([
    ['bad JSON', Buffer.from('{'), 'not JSON'],
    ['null', null, 'null value'],
    ['a newer version', Buffer.from(JSON.stringify({ ...report, v: 2 })), 'version 2'],
    [
      'an unknown type',
      Buffer.from(JSON.stringify({ ...report, type: 'lease-grant' })),
      "type 'lease-grant'",
    ],
    ['a missing field', Buffer.from(JSON.stringify({ ...report, queued: -1 })), 'invalid fields'],
  ])('reports %s as unknown instead of throwing', (_name, value, reason) => {
    const d = decodeControl(value);
    expect(d.kind).toBe('unknown');
    expect(d.kind === 'unknown' && d.reason).toContain(reason);
  });
});
