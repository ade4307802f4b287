// Typed identities of the runtime. They are plain strings and numbers at run time; the brands keep a worker id
// from being passed where a queue id is expected, and a lease slot from being confused with a partition.

declare const brand: unique symbol;
/** `T` branded as `B`: assignable to `T`, but a plain `T` is not assignable to it. */
export type Brand<T, B extends string> = T & { readonly [brand]: B };

/** A worker process's id (`--worker-id`, default `<host>-<pid>-<random>`). */
export type WorkerId = Brand<string, 'WorkerId'>;

/** A lease slot: a partition of an app's lease topic, processed by whichever worker owns it. */
export type LeaseSlot = Brand<number, 'LeaseSlot'>;

/** A dispatcher queue: one input partition of one group, `<group>/<partition>`. */
export type QueueId = Brand<string, 'QueueId'>;

/** A virtual actor: function `fn` of app `app`, key `key`. */
export interface ActorAddress {
  readonly app: string;
  readonly fn: string;
  readonly key: string;
}

export const workerId = (id: string): WorkerId => id as WorkerId;

export function leaseSlot(n: number): LeaseSlot {
  if (!Number.isInteger(n) || n < 0) throw new RangeError(`lease slot must be an integer >= 0, got ${n}`);
  return n as LeaseSlot;
}

export const queueId = (group: string, partition: number): QueueId => `${group}/${partition}` as QueueId;

export const actorAddress = (app: string, fn: string, key: string): ActorAddress => ({ app, fn, key });

/** `app/fn/key`, for logs and map keys. */
export const addressText = (a: ActorAddress): string => `${a.app}/${a.fn}/${a.key}`;
