// The scheduling headers of the records a message causes: shared and frozen among records of one millisecond (an
// ingress record) or of one upstream message's values (a later hop), and always the values of the record itself.
import type { IncomingRecord, RecordHeaders } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { H_DEADLINE, H_INGEST, H_PRIORITY } from '../headers.ts';
import type { FunctionEnv } from './function-env.ts';
import { metaHeaders } from './message-context.ts';

const env = () =>
  ({
    app: { options: { propagateHeaders: true, latencyTargetMs: 500 } },
    priorityHeader: Buffer.from('normal'),
    metaCache: { at: Number.NaN, headers: undefined },
  }) as unknown as FunctionEnv;

const record = (timestamp: number, headers: RecordHeaders = {}): IncomingRecord => ({
  topic: 't',
  partition: 0,
  offset: 0,
  key: null,
  value: null,
  headers,
  timestamp,
});

const hop = (ingest: string, deadline: string) =>
  record(1, { [H_INGEST]: Buffer.from(ingest), [H_DEADLINE]: Buffer.from(deadline) });

const text = (h: RecordHeaders) => Object.fromEntries(Object.entries(h).map(([k, v]) => [k, v.toString()]));

describe('metaHeaders', () => {
  it('shares one frozen object among ingress records of one millisecond', () => {
    const e = env();
    const a = metaHeaders(e, record(1000));
    expect(Object.isFrozen(a)).toBe(true);
    expect(metaHeaders(e, record(1000))).toBe(a);
    const b = metaHeaders(e, record(1001));
    expect(b).not.toBe(a);
    expect(text(b)).toEqual({ [H_INGEST]: '1001', [H_DEADLINE]: '1501', [H_PRIORITY]: 'normal' });
  });

  it("shares one frozen object among a later hop's records with the same values, each record's own values", () => {
    const e = env();
    const a = metaHeaders(e, hop('100', '600'));
    expect(Object.isFrozen(a)).toBe(true);
    // Other Buffers with the same bytes: the same object; so for the same incoming headers object.
    expect(metaHeaders(e, hop('100', '600'))).toBe(a);
    const shared = hop('100', '600');
    expect(metaHeaders(e, shared)).toBe(a);
    expect(metaHeaders(e, { ...shared })).toBe(a);
    for (const [ingest, deadline] of [
      ['100', '601'],
      ['101', '600'],
      ['1000', '600'],
    ] as const) {
      const h = metaHeaders(e, hop(ingest, deadline));
      expect(h).not.toBe(a);
      expect(text(h)).toEqual({ [H_INGEST]: ingest, [H_DEADLINE]: deadline, [H_PRIORITY]: 'normal' });
    }
  });

  it('carries the record headers on in a record-owned object', () => {
    const e = env();
    const h = metaHeaders(e, record(1000, { 'x-tenant': Buffer.from('acme') }));
    expect(text(h)).toEqual({
      'x-tenant': 'acme',
      [H_INGEST]: '1000',
      [H_DEADLINE]: '1500',
      [H_PRIORITY]: 'normal',
    });
  });
});
