// The policy registry: built-in policies by name, user policies registered at start-up, and `createPolicy`
// that turns the worker's `scheduler.policy` / `scheduler.options` into a policy.
import { ConfigError } from '@dirigo/core';
import { dirigoPolicy } from './policies/dirigo.ts';
import { edfPolicy } from './policies/edf.ts';
import { fifoPolicy } from './policies/fifo.ts';
import { laxityPolicy } from './policies/laxity.ts';
import { priorityPolicy } from './policies/priority.ts';
import { weightedFairPolicy } from './policies/weighted-fair.ts';
import type { PolicyFactory, PolicyOptions, SchedulingPolicy } from './types.ts';

const factories = new Map<string, PolicyFactory>([
  ['fifo', fifoPolicy],
  ['priority', priorityPolicy],
  ['edf', edfPolicy],
  ['laxity', laxityPolicy],
  ['weighted-fair', weightedFairPolicy],
  ['dirigo', dirigoPolicy],
]);

/** Names of the built-in policies. */
export const BUILTIN_POLICIES: readonly string[] = Object.freeze([...factories.keys()]);

/**
 * Registers a policy under `name` (process-wide). Registering a name that exists throws unless
 * `replace: true` (so a typo cannot silently shadow a built-in).
 *
 * @example registerPolicy('mine', (options) => ({ name: 'mine', pickNext: (view) => view.queues[0] }))
 */
export function registerPolicy(name: string, factory: PolicyFactory, opts: { replace?: boolean } = {}): void {
  if (name.length === 0) throw new ConfigError('scheduler.policy', 'a policy name must not be empty');
  if (factories.has(name) && opts.replace !== true) {
    throw new ConfigError(
      'scheduler.policy',
      `a policy named '${name}' is already registered; pass { replace: true } to replace it`,
    );
  }
  factories.set(name, factory);
}

/** Removes a registered policy (built-ins included); returns whether it existed. For tests and plugins. */
export function unregisterPolicy(name: string): boolean {
  return factories.delete(name);
}

/** Names of the registered policies, in registration order. */
export function registeredPolicies(): string[] {
  return [...factories.keys()];
}

/**
 * Makes the policy registered as `name`. Throws ConfigError on field `scheduler.policy` (listing the
 * registered names) for an unknown name, or on `scheduler.options.<field>` for a bad option.
 *
 * @example createPolicy('edf', {})
 */
export function createPolicy(name: string, options: PolicyOptions = {}): SchedulingPolicy {
  const factory = factories.get(name);
  if (factory === undefined) {
    throw new ConfigError(
      'scheduler.policy',
      `unknown scheduling policy '${name}'; registered policies: ${registeredPolicies().join(', ')}`,
    );
  }
  return factory(options);
}
