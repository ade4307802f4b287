import { describe, expect, it } from 'vitest';
import { defineApp, fn, state } from './app.ts';
import { ConfigError } from './errors.ts';
import { DEFAULT_KEY_SERDE, keys } from './keys.ts';
import { merge } from './mergeable.ts';
import { resolveApp } from './options.ts';
import { json, string } from './serde.ts';

const base = () =>
  defineApp({
    name: 'shop',
    functions: {
      count: fn<number, { n: ReturnType<typeof state.value<number>> }>({
        state: { n: state.value<number>() },
        handler() {},
      }),
    },
  });

const fieldOf = (f: () => unknown): string => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as ConfigError).field;
  }
  throw new Error('expected a ConfigError');
};

describe('resolveApp', () => {
  it('fills every default', () => {
    const app = resolveApp(base());
    expect(app.options).toMatchObject({
      namespace: 'dirigo',
      latencyTargetMs: 1000,
      priority: 'normal',
      guarantee: 'exactly_once',
      onError: 'dead-letter',
      deadLetterTopic: 'dirigo.shop.dlq',
      defaultPartitions: 4,
      maxConcurrentKeys: 16,
      propagateHeaders: true,
      store: 'memory',
    });
    const f = app.functions.get('count')!;
    expect(f).toMatchObject({
      topic: 'dirigo.shop.count',
      changelogTopic: 'dirigo.shop.count.changelog',
      group: 'dirigo.shop.count',
      partitions: 4,
      stateful: true,
      external: false,
    });
  });
  it('rejects a bad app name', () =>
    expect(fieldOf(() => resolveApp({ ...base(), name: 'a b' }))).toBe('name'));
  it('rejects an app without functions', () =>
    expect(fieldOf(() => resolveApp({ name: 'x', functions: {} }))).toBe('functions'));
  it('rejects unknown options (typos)', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { guarante: 'exactly_once' } as never }))).toBe(
      'options.guarante',
    ));
  it('rejects a bad guarantee', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { guarantee: 'exactly-once' as never } }))).toBe(
      'options.guarantee',
    ));
  it('rejects a bad error policy', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { onError: 'ignore' as never } }))).toBe(
      'options.onError',
    ));
  it('rejects a bad priority', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { priority: 'urgent' as never } }))).toBe(
      'options.priority',
    ));
  it('rejects a non-positive latency target', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { latencyTargetMs: 0 } }))).toBe(
      'options.latencyTargetMs',
    ));
  it('rejects fractional partitions', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { defaultPartitions: 1.5 } }))).toBe(
      'options.defaultPartitions',
    ));
  it('rejects a bad namespace', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { namespace: 'a.b' } }))).toBe(
      'options.namespace',
    ));
  it('rejects a bad store', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { store: 'redis' as never } }))).toBe(
      'options.store',
    ));
  it('rejects a propagateHeaders that is not a boolean', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { propagateHeaders: 'no' as never } }))).toBe(
      'options.propagateHeaders',
    ));
  it('rejects maxConcurrentKeys < 1', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { maxConcurrentKeys: 0 } }))).toBe(
      'options.maxConcurrentKeys',
    ));
  it('rejects a function without handler', () =>
    expect(fieldOf(() => resolveApp({ name: 'x', functions: { f: {} as never } }))).toBe(
      'functions.f.handler',
    ));
  it('rejects reserved state names', () =>
    expect(
      fieldOf(() =>
        resolveApp({ name: 'x', functions: { f: { state: { __t: state.value() }, handler() {} } } }),
      ),
    ).toBe('functions.f.state.__t'));
  it('rejects an ingress to an unknown function', () =>
    expect(fieldOf(() => resolveApp({ ...base(), ingresses: [{ topic: 'in', to: 'nope' }] }))).toBe(
      'ingresses[0].to',
    ));
  it('rejects a bad ingress topic', () =>
    expect(fieldOf(() => resolveApp({ ...base(), ingresses: [{ topic: 'a b', to: 'count' }] }))).toBe(
      'ingresses[0].topic',
    ));
  it('rejects a bad egress topic', () =>
    expect(fieldOf(() => resolveApp({ ...base(), egresses: { out: { topic: '' } } }))).toBe(
      'egresses.out.topic',
    ));
  it('reads a key-less ingress directly and re-keys a keyed one', () => {
    const app = resolveApp({
      ...base(),
      ingresses: [
        { topic: 'direct-in', to: 'count', serde: string() },
        { topic: 'other-in', to: 'count' },
        { topic: 'keyed-in', to: 'count', key: (v: unknown) => String(v) },
      ],
    });
    expect(app.ingresses.map((i) => i.direct)).toEqual([true, false, false]);
    expect(app.functions.get('count')).toMatchObject({
      topic: 'direct-in',
      external: true,
      partitions: undefined,
    });
  });
  it('decodes a direct ingress with its serde', () => {
    const app = resolveApp({ ...base(), ingresses: [{ topic: 'in', to: 'count', serde: string() }] });
    expect(app.functions.get('count')!.serde.name).toBe('string');
  });
  it('rejects a direct ingress serde that differs from the function message serde', () =>
    expect(
      fieldOf(() =>
        resolveApp({
          name: 'x',
          functions: { f: { message: json(), handler() {} } },
          ingresses: [{ topic: 'in', to: 'f', serde: string() }],
        }),
      ),
    ).toBe('ingresses[0].serde'));
  it('re-keys a second key-less ingress by its record key', () => {
    const app = resolveApp({
      ...base(),
      ingresses: [
        { topic: 'a', to: 'count' },
        { topic: 'b', to: 'count' },
      ],
    });
    expect(app.ingresses[1]!.direct).toBe(false);
    // No key function: the router keeps the record key's exact bytes (null included) as the actor.
    expect(app.ingresses[1]!.key).toBeUndefined();
    expect(app.ingresses[1]!.keySerde).toBe(app.functions.get('count')!.keySerde);
  });
  it('resolves key serdes: the function default is UTF-8, an ingress defaults to its target, a mismatch is named', () => {
    const app = resolveApp({
      ...base(),
      functions: { count: { keySerde: keys.int64(), handler() {} } },
      ingresses: [{ topic: 'a', to: 'count' }],
      egresses: { out: { topic: 'o', keySerde: keys.bytes() } },
    });
    expect(app.functions.get('count')!.keySerde.name).toBe('int64');
    expect(app.ingresses[0]!.keySerde.name).toBe('int64');
    expect(app.egresses.get('out')!.keySerde?.name).toBe('bytes');
    expect(resolveApp(base()).functions.get('count')!.keySerde).toBe(DEFAULT_KEY_SERDE);
    expect(
      fieldOf(() =>
        resolveApp({
          ...base(),
          functions: { count: { keySerde: keys.int64(), handler() {} } },
          ingresses: [{ topic: 'a', to: 'count', keySerde: keys.string() }],
        }),
      ),
    ).toBe('ingresses[0].keySerde');
    expect(
      fieldOf(() =>
        resolveApp({ ...base(), functions: { count: { keySerde: 'int64' as never, handler() {} } } }),
      ),
    ).toBe('functions.count.keySerde');
  });
  it('rejects an empty stateDir', () =>
    expect(fieldOf(() => resolveApp({ ...base(), options: { stateDir: ' ' } }))).toBe('options.stateDir'));
});

describe('resolveApp: mergeable state and leasing', () => {
  const one = (f: Record<string, unknown>) =>
    resolveApp({ name: 'x', functions: { f: { handler() {}, ...f } } });
  const message = (f: () => unknown): string => {
    try {
      f();
    } catch (e) {
      return (e as Error).message;
    }
    throw new Error('expected an error');
  };

  it('resolves mergeable cells next to value and map cells, and defaults leasing off', () => {
    const sum = merge.sum();
    const f = one({ state: { v: state.value(), m: state.map(), s: state.mergeable(sum) } }).functions.get(
      'f',
    )!;
    expect(f.states.map((s) => [s.name, s.kind, s.merge])).toEqual([
      ['v', 'value', undefined],
      ['m', 'map', undefined],
      ['s', 'mergeable', sum],
    ]);
    expect(f.states[2]!.serde.name).toBe('json');
    expect(f).toMatchObject({ leasable: false, critical: undefined });
  });
  it('rejects a mergeable cell without a valid Mergeable', () =>
    expect(fieldOf(() => one({ state: { s: { kind: 'mergeable', serde: undefined, merge: {} } } }))).toBe(
      'functions.f.state.s',
    ));
  it('rejects a mergeable cell whose identity does not survive its serde', () =>
    expect(
      fieldOf(() => one({ state: { s: state.mergeable(merge.custom('min', () => Infinity, Math.min)) } })),
    ).toBe('functions.f.state.s'));
  it('rejects leasable with a non-mergeable state cell, naming the cell and the fix', () => {
    const f = () => one({ leasable: true, state: { s: state.mergeable(merge.sum()), v: state.value() } });
    expect(fieldOf(f)).toBe('functions.f.state.v');
    expect(message(f)).toContain('declare it with state.mergeable(...) or remove leasable');
  });
  it('rejects leasable that is not a boolean', () =>
    expect(fieldOf(() => one({ leasable: 'yes' }))).toBe('functions.f.leasable'));
  it('rejects critical that is not a function', () =>
    expect(fieldOf(() => one({ critical: true }))).toBe('functions.f.critical'));
  it('lets a stateless function be leasable', () =>
    expect(one({ leasable: true }).functions.get('f')!.leasable).toBe(true));
  it('resolves a leasable function with mergeable state and its critical predicate', () => {
    const f = resolveApp({
      name: 'x',
      functions: {
        f: fn({
          leasable: true,
          state: { n: state.mergeable(merge.count()) },
          critical(m: { type: string }, key) {
            return m.type === 'report' && key !== '';
          },
          handler(ctx) {
            ctx.state.n.merge(1);
          },
        }),
      },
    }).functions.get('f')!;
    expect(f.leasable).toBe(true);
    expect(f.critical!({ type: 'report' }, 'k')).toBe(true);
    expect(f.critical!({ type: 'click' }, 'k')).toBe(false);
  });
});

describe('leasing options and the lease topic', () => {
  const leasable = (options: object = {}) =>
    defineApp({
      name: 'hot',
      options,
      functions: {
        f: fn({ leasable: true, state: { n: state.mergeable(merge.sum()) }, handler() {} }),
        g: fn({ handler() {} }),
      },
    });

  it('names the lease topic, changelog and group of an app with a leasable function, and fills defaults', () => {
    const app = resolveApp(leasable());
    expect(app.lease).toEqual({
      topic: 'dirigo.hot.__lease',
      changelogTopic: 'dirigo.hot.__lease.changelog',
      group: 'dirigo.hot.__lessees',
      slots: 8,
    });
    expect(app.options.leasing).toEqual({ slots: 8, maxLessees: 4, idleRevokeMs: 2000, stepBudgetMs: 100 });
    expect(resolveApp(leasable({ leasing: { slots: 2 } })).options.leasing.maxLessees).toBe(2);
  });

  it('has no lease topic without a leasable function', () => {
    expect(
      resolveApp(defineApp({ name: 'cold', functions: { f: fn({ handler() {} }) } })).lease,
    ).toBeUndefined();
  });

  it.each([
    [{ leasing: { slots: 0 } }, 'options.leasing.slots'],
    [{ leasing: { slots: 2, maxLessees: 3 } }, 'options.leasing.maxLessees'],
    [{ leasing: { idleRevokeMs: -1 } }, 'options.leasing.idleRevokeMs'],
    [{ leasing: { stepBudgetMs: 0 } }, 'options.leasing.stepBudgetMs'],
    [{ leasing: { hot: true } }, 'options.leasing.hot'],
    [{ leasing: 3 }, 'options.leasing'],
  ])('rejects %j naming %s', (options, field) => {
    expect(() => resolveApp(leasable(options))).toThrow(expect.objectContaining({ field }));
  });

  it('reserves function names starting with __ for the runtime', () => {
    expect(() => resolveApp(defineApp({ name: 'a', functions: { __lease: fn({ handler() {} }) } }))).toThrow(
      expect.objectContaining({ field: 'functions.__lease' }),
    );
  });
});

describe('leasable functions need exactly-once', () => {
  it('rejects leasable under at_least_once, naming the field', () => {
    expect(() =>
      resolveApp(
        defineApp({
          name: 'alo',
          options: { guarantee: 'at_least_once' },
          functions: { f: fn({ leasable: true, handler() {} }) },
        }),
      ),
    ).toThrow(expect.objectContaining({ field: 'functions.f.leasable' }));
  });
});
