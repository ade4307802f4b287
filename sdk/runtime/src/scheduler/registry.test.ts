import { ConfigError } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import {
  BUILTIN_POLICIES,
  createPolicy,
  registeredPolicies,
  registerPolicy,
  unregisterPolicy,
} from './registry.ts';

const errorOf = (f: () => unknown): ConfigError => {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('expected a ConfigError');
};

describe('policy registry', () => {
  afterEach(() => {
    unregisterPolicy('mine');
  });

  it('creates every built-in by name', () => {
    expect(BUILTIN_POLICIES).toEqual(['fifo', 'priority', 'edf', 'laxity', 'weighted-fair', 'dirigo']);
    for (const name of BUILTIN_POLICIES) expect(createPolicy(name).name).toBe(name);
  });

  it('rejects an unknown name on scheduler.policy, listing the registered ones', () => {
    const e = errorOf(() => createPolicy('edff'));
    expect(e.field).toBe('scheduler.policy');
    expect(e.message).toContain("'edff'");
    expect(e.message).toContain('fifo, priority, edf, laxity, weighted-fair');
  });

  it('registers user policies, refusing to shadow a name unless asked', () => {
    registerPolicy('mine', (o) => ({ name: `mine:${String(o.tag)}`, pickNext: (v) => v.queues[0] }));
    expect(createPolicy('mine', { tag: 'x' }).name).toBe('mine:x');
    expect(registeredPolicies()).toContain('mine');
    expect(errorOf(() => registerPolicy('fifo', () => createPolicy('edf'))).field).toBe('scheduler.policy');
    registerPolicy('mine', () => createPolicy('edf'), { replace: true });
    expect(createPolicy('mine').name).toBe('edf');
  });

  it('names the bad option field', () => {
    expect(errorOf(() => createPolicy('priority', { agingMs: -1 })).field).toBe('scheduler.options.agingMs');
    expect(errorOf(() => createPolicy('edf', { agingMs: 5 })).field).toBe('scheduler.options.agingMs');
    expect(errorOf(() => createPolicy('fifo', { x: 1 })).field).toBe('scheduler.options.x');
    expect(errorOf(() => createPolicy('weighted-fair', { weights: { batch: 0 } })).field).toBe(
      'scheduler.options.weights.batch',
    );
    expect(createPolicy('laxity', { agingMs: Number.POSITIVE_INFINITY }).name).toBe('laxity');
  });
});
