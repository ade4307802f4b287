// Turns a user's AppDefinition into a fully-defaulted, validated ResolvedApp. This is the one place where
// options are checked: every wrong field throws a ConfigError naming the field and the fix.
import type {
  AppDefinition,
  AppOptions,
  EgressDefinition,
  ErrorPolicy,
  FunctionDefinition,
  IngressDefinition,
  MessageOrigin,
  PriorityClass,
  ProcessingGuarantee,
  StateKind,
} from './app.ts';
import { ConfigError } from './errors.ts';
import { DEFAULT_KEY_SERDE, type KeySerde } from './keys.ts';
import { type Mergeable, sameValue } from './mergeable.ts';
import { json, type Serde } from './serde.ts';

/** Defaults of every app option. */
export const APP_DEFAULTS = Object.freeze({
  namespace: 'dirigo',
  latencyTargetMs: 1000,
  priority: 'normal' as PriorityClass,
  guarantee: 'exactly_once' as ProcessingGuarantee,
  onError: 'dead-letter' as ErrorPolicy,
  defaultPartitions: 4,
  maxConcurrentKeys: 16,
  handlerTimeoutMs: 30_000,
  slowHandlerMs: 5_000,
  deadLetterMaxBytes: 900_000,
  propagateHeaders: true,
  store: 'memory' as 'memory' | 'persistent',
  stateDir: './.dirigo-state',
  leasing: Object.freeze({ slots: 8, maxLessees: 4, idleRevokeMs: 2_000, stepBudgetMs: 100 }),
  eventTime: Object.freeze({ maxOutOfOrdernessMs: 0, idleTimeoutMs: 10_000, watermarkIntervalMs: 200 }),
});

export interface ResolvedOptions {
  readonly namespace: string;
  readonly latencyTargetMs: number;
  readonly priority: PriorityClass;
  readonly guarantee: ProcessingGuarantee;
  readonly onError: ErrorPolicy;
  readonly deadLetterTopic: string;
  readonly defaultPartitions: number;
  readonly replicationFactor: number | undefined;
  readonly maxConcurrentKeys: number;
  readonly handlerTimeoutMs: number;
  readonly slowHandlerMs: number;
  readonly deadLetterMaxBytes: number;
  /** Records a handler sends or emits carry the headers of the record it handles (see `AppOptions`). */
  readonly propagateHeaders: boolean;
  readonly store: 'memory' | 'persistent';
  readonly stateDir: string;
  readonly leasing: ResolvedLeasing;
  /** Event time, when the app uses it (see `AppOptions.eventTime`). */
  readonly eventTime: ResolvedEventTime | undefined;
}

/** Event-time options with defaults filled. */
export interface ResolvedEventTime {
  readonly maxOutOfOrdernessMs: number;
  readonly idleTimeoutMs: number;
  readonly watermarkIntervalMs: number;
}

/** Leasing options with defaults filled. */
export interface ResolvedLeasing {
  readonly slots: number;
  readonly maxLessees: number;
  readonly idleRevokeMs: number;
  readonly stepBudgetMs: number;
}

/** The lease topic of an app with leasable functions (names from `<namespace>.<app>`). */
export interface ResolvedLease {
  /** `<ns>.<app>.__lease`: partition s is lease slot s. */
  readonly topic: string;
  /** `<ns>.<app>.__lease.changelog`: the lessees' partial state, co-partitioned with the lease topic. */
  readonly changelogTopic: string;
  /** `<ns>.<app>.__lessees`: the consumer group of every worker running the app. */
  readonly group: string;
  readonly slots: number;
}

export interface ResolvedState {
  readonly name: string;
  /** 'value' and 'map' cells are exclusive (only the lessor touches them); 'mergeable' ones may be partial. */
  readonly kind: StateKind;
  readonly serde: Serde<unknown>;
  /** The combiner of a 'mergeable' cell (its identity survives `serde`); `undefined` for other kinds. */
  readonly merge: Mergeable<unknown> | undefined;
}

export interface ResolvedFunction {
  readonly name: string;
  /** Input topic: `<ns>.<app>.<fn>`, or the topic of its direct ingress. */
  readonly topic: string;
  /** True when the input topic is an existing (ingress) topic, not created by Dirigo. */
  readonly external: boolean;
  readonly changelogTopic: string;
  /** Consumer group and transactional-id prefix. */
  readonly group: string;
  /** Declared partitions; for an external topic, `undefined` means "whatever the topic has". */
  readonly partitions: number | undefined;
  readonly serde: Serde<unknown>;
  /** How its record keys look to the handler, and how keys sent to it become bytes. */
  readonly keySerde: KeySerde;
  readonly states: readonly ResolvedState[];
  readonly stateful: boolean;
  /** Ordinary messages of a hot key may run at lessees; every state cell is then mergeable. */
  readonly leasable: boolean;
  /** The function's `critical` predicate (bound to its definition), or `undefined` when it declares none. */
  readonly critical: ((message: unknown, key: string) => boolean) | undefined;
  /** The function's event-time extractor (bound), or `undefined`: the record timestamp. */
  readonly eventTime: ((message: unknown, origin: MessageOrigin) => number) | undefined;
  /** The functions it declares it sends to (`sends`), or undefined when it declares nothing. */
  readonly sends: readonly string[] | undefined;
  readonly definition: FunctionDefinition;
}

export interface ResolvedIngress {
  readonly topic: string;
  readonly to: string;
  readonly serde: Serde<unknown>;
  /** Direct: the target function consumes this topic itself. Otherwise a router re-keys onto its topic. */
  readonly direct: boolean;
  /** How the topic's record keys are decoded (the target function's key serde unless the ingress sets one). */
  readonly keySerde: KeySerde;
  /**
   * The actor key of a record, as text for the target's key serde (routed ingresses with a `key` function);
   * undefined: the record key's exact bytes are the actor.
   */
  readonly key: ((value: unknown, recordKey: string | null) => string) | undefined;
  /** Group of the router (routed ingresses only). */
  readonly group: string;
}

export interface ResolvedEgress {
  readonly name: string;
  readonly topic: string;
  readonly serde: Serde<unknown>;
  /** How keys given to `emit` become bytes; undefined: `ctx.key` keeps the record's bytes, other text is UTF-8. */
  readonly keySerde: KeySerde | undefined;
  readonly partitions: number;
  /** Write the scheduling headers on this egress's records (`EgressDefinition.schedulingHeaders`). */
  readonly schedulingHeaders: boolean;
}

export interface ResolvedApp {
  readonly name: string;
  readonly options: ResolvedOptions;
  readonly functions: ReadonlyMap<string, ResolvedFunction>;
  readonly ingresses: readonly ResolvedIngress[];
  readonly egresses: ReadonlyMap<string, ResolvedEgress>;
  /** The app's lease topic, when it has a leasable function. */
  readonly lease: ResolvedLease | undefined;
  readonly definition: AppDefinition;
}

const NAME = /^[A-Za-z0-9_-]{1,100}$/;
const OPTION_KEYS: readonly (keyof AppOptions)[] = [
  'namespace',
  'latencyTargetMs',
  'priority',
  'guarantee',
  'onError',
  'deadLetterTopic',
  'defaultPartitions',
  'replicationFactor',
  'maxConcurrentKeys',
  'handlerTimeoutMs',
  'slowHandlerMs',
  'deadLetterMaxBytes',
  'propagateHeaders',
  'store',
  'stateDir',
  'leasing',
  'eventTime',
];

function oneOf<T extends string>(field: string, value: T | undefined, allowed: readonly T[], dflt: T): T {
  if (value === undefined) return dflt;
  if (!allowed.includes(value)) {
    throw new ConfigError(
      field,
      `'${String(value)}' is not allowed; use one of ${allowed.map((a) => `'${a}'`).join(', ')}`,
    );
  }
  return value;
}

function intIn(field: string, value: number | undefined, min: number, max: number, dflt: number): number {
  if (value === undefined) return dflt;
  if (!Number.isInteger(value) || value < min || value > max) {
    throw new ConfigError(field, `${String(value)} is not an integer from ${min} to ${max}`);
  }
  return value;
}

function nonEmpty(field: string, value: string | undefined, dflt: string): string {
  if (value === undefined) return dflt;
  if (typeof value !== 'string' || value.trim() === '')
    throw new ConfigError(field, 'must be a non-empty path');
  return value;
}

function topicName(field: string, value: unknown): string {
  if (typeof value !== 'string' || !/^[A-Za-z0-9._-]{1,249}$/.test(value)) {
    throw new ConfigError(
      field,
      `'${String(value)}' is not a valid Kafka topic name (letters, digits, '.', '_', '-')`,
    );
  }
  return value;
}

function bool(field: string, value: boolean | undefined, dflt: boolean): boolean {
  if (value === undefined) return dflt;
  if (typeof value !== 'boolean') throw new ConfigError(field, `${String(value)} must be true or false`);
  return value;
}

/** Validates options and fills defaults. */
export function resolveOptions(appName: string, options: AppOptions = {}): ResolvedOptions {
  for (const key of Object.keys(options)) {
    if (!OPTION_KEYS.includes(key as keyof AppOptions)) {
      throw new ConfigError(`options.${key}`, `unknown option; known options are ${OPTION_KEYS.join(', ')}`);
    }
  }
  const namespace = options.namespace ?? APP_DEFAULTS.namespace;
  if (!/^[A-Za-z0-9_-]{1,100}$/.test(namespace)) {
    throw new ConfigError('options.namespace', `'${namespace}' must be letters, digits, '-' or '_'`);
  }
  const latency = options.latencyTargetMs ?? APP_DEFAULTS.latencyTargetMs;
  if (typeof latency !== 'number' || !Number.isFinite(latency) || latency <= 0) {
    throw new ConfigError(
      'options.latencyTargetMs',
      `${String(latency)} must be a positive number of milliseconds`,
    );
  }
  return Object.freeze({
    namespace,
    latencyTargetMs: latency,
    priority: oneOf(
      'options.priority',
      options.priority,
      ['critical', 'high', 'normal', 'batch'],
      APP_DEFAULTS.priority,
    ),
    guarantee: oneOf(
      'options.guarantee',
      options.guarantee,
      ['exactly_once', 'at_least_once'],
      APP_DEFAULTS.guarantee,
    ),
    onError: oneOf('options.onError', options.onError, ['dead-letter', 'stop'], APP_DEFAULTS.onError),
    deadLetterTopic:
      options.deadLetterTopic === undefined
        ? `${namespace}.${appName}.dlq`
        : topicName('options.deadLetterTopic', options.deadLetterTopic),
    defaultPartitions: intIn(
      'options.defaultPartitions',
      options.defaultPartitions,
      1,
      10_000,
      APP_DEFAULTS.defaultPartitions,
    ),
    replicationFactor:
      options.replicationFactor === undefined
        ? undefined
        : intIn('options.replicationFactor', options.replicationFactor, 1, 32, 1),
    handlerTimeoutMs: intIn(
      'options.handlerTimeoutMs',
      options.handlerTimeoutMs,
      0,
      2 ** 31,
      APP_DEFAULTS.handlerTimeoutMs,
    ),
    slowHandlerMs: intIn(
      'options.slowHandlerMs',
      options.slowHandlerMs,
      1,
      2 ** 31,
      APP_DEFAULTS.slowHandlerMs,
    ),
    deadLetterMaxBytes: intIn(
      'options.deadLetterMaxBytes',
      options.deadLetterMaxBytes,
      4_096,
      2 ** 31,
      APP_DEFAULTS.deadLetterMaxBytes,
    ),
    maxConcurrentKeys: intIn(
      'options.maxConcurrentKeys',
      options.maxConcurrentKeys,
      1,
      100_000,
      APP_DEFAULTS.maxConcurrentKeys,
    ),
    propagateHeaders: bool(
      'options.propagateHeaders',
      options.propagateHeaders,
      APP_DEFAULTS.propagateHeaders,
    ),
    store: oneOf('options.store', options.store, ['memory', 'persistent'], APP_DEFAULTS.store),
    stateDir: nonEmpty('options.stateDir', options.stateDir, APP_DEFAULTS.stateDir),
    leasing: resolveLeasingOptions(options.leasing),
    eventTime: resolveEventTime(options.eventTime),
  });
}

const EVENT_TIME_KEYS = ['maxOutOfOrdernessMs', 'idleTimeoutMs', 'watermarkIntervalMs'] as const;

function resolveEventTime(eventTime: AppOptions['eventTime']): ResolvedEventTime | undefined {
  if (eventTime === undefined) return undefined;
  if (eventTime === null || typeof eventTime !== 'object') {
    throw new ConfigError(
      'options.eventTime',
      'must be an object { maxOutOfOrdernessMs, idleTimeoutMs, watermarkIntervalMs }',
    );
  }
  for (const key of Object.keys(eventTime)) {
    if (!(EVENT_TIME_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(
        `options.eventTime.${key}`,
        `unknown option; known are ${EVENT_TIME_KEYS.join(', ')}`,
      );
    }
  }
  const d = APP_DEFAULTS.eventTime;
  return Object.freeze({
    maxOutOfOrdernessMs: intIn(
      'options.eventTime.maxOutOfOrdernessMs',
      eventTime.maxOutOfOrdernessMs,
      0,
      2 ** 31,
      d.maxOutOfOrdernessMs,
    ),
    idleTimeoutMs: intIn(
      'options.eventTime.idleTimeoutMs',
      eventTime.idleTimeoutMs,
      1,
      2 ** 31,
      d.idleTimeoutMs,
    ),
    watermarkIntervalMs: intIn(
      'options.eventTime.watermarkIntervalMs',
      eventTime.watermarkIntervalMs,
      1,
      3_600_000,
      d.watermarkIntervalMs,
    ),
  });
}

const LEASING_KEYS = ['slots', 'maxLessees', 'idleRevokeMs', 'stepBudgetMs'] as const;

function resolveLeasingOptions(leasing: AppOptions['leasing']): ResolvedLeasing {
  if (leasing !== undefined && (leasing === null || typeof leasing !== 'object')) {
    throw new ConfigError(
      'options.leasing',
      'must be an object { slots, maxLessees, idleRevokeMs, stepBudgetMs }',
    );
  }
  for (const key of Object.keys(leasing ?? {})) {
    if (!(LEASING_KEYS as readonly string[]).includes(key)) {
      throw new ConfigError(`options.leasing.${key}`, `unknown option; known are ${LEASING_KEYS.join(', ')}`);
    }
  }
  const d = APP_DEFAULTS.leasing;
  const slots = intIn('options.leasing.slots', leasing?.slots, 1, 1_000, d.slots);
  return Object.freeze({
    slots,
    maxLessees: intIn(
      'options.leasing.maxLessees',
      leasing?.maxLessees,
      1,
      slots,
      Math.min(d.maxLessees, slots),
    ),
    idleRevokeMs: intIn('options.leasing.idleRevokeMs', leasing?.idleRevokeMs, 1, 3_600_000, d.idleRevokeMs),
    stepBudgetMs: intIn('options.leasing.stepBudgetMs', leasing?.stepBudgetMs, 1, 60_000, d.stepBudgetMs),
  });
}

/** A key serde must be a Serde<string>: an object with a name, serialize and deserialize. */
function checkKeySerde(field: string, serde: unknown): KeySerde {
  const s = serde as KeySerde | null;
  if (
    s === null ||
    typeof s !== 'object' ||
    typeof s.name !== 'string' ||
    typeof s.serialize !== 'function' ||
    typeof s.deserialize !== 'function'
  ) {
    throw new ConfigError(
      field,
      'must be a key serde { name, serialize(key: string): Buffer, deserialize(bytes: Buffer): string }, e.g. keys.int64()',
    );
  }
  return s;
}

function resolveStates(field: string, def: FunctionDefinition): ResolvedState[] {
  const out: ResolvedState[] = [];
  for (const [name, spec] of Object.entries(def.state ?? {})) {
    if (!NAME.test(name) || name.startsWith('__')) {
      throw new ConfigError(
        `${field}.state.${name}`,
        "state names are letters, digits, '-', '_' and may not start with '__'",
      );
    }
    if (
      spec === null ||
      typeof spec !== 'object' ||
      (spec.kind !== 'value' && spec.kind !== 'map' && spec.kind !== 'mergeable')
    ) {
      throw new ConfigError(
        `${field}.state.${name}`,
        'declare state with state.value(), state.map() or state.mergeable(...)',
      );
    }
    const serde = (spec.serde as Serde<unknown> | undefined) ?? json();
    const merge =
      spec.kind === 'mergeable' ? resolveMerge(`${field}.state.${name}`, spec.merge, serde) : undefined;
    out.push({ name, kind: spec.kind, serde, merge });
  }
  return out;
}

/** A mergeable cell's combiner: an object with identity() and combine(), whose identity survives the serde. */
function resolveMerge(field: string, m: unknown, serde: Serde<unknown>): Mergeable<unknown> {
  const candidate = m as Partial<Mergeable<unknown>> | null | undefined;
  if (
    candidate === null ||
    typeof candidate !== 'object' ||
    typeof candidate.identity !== 'function' ||
    typeof candidate.combine !== 'function'
  ) {
    throw new ConfigError(
      field,
      'a mergeable cell needs a Mergeable with identity() and combine(a, b); declare it with state.mergeable(merge.sum()) or another built-in of merge',
    );
  }
  const mergeable = candidate as Mergeable<unknown>;
  let back: unknown;
  let identity: unknown;
  try {
    identity = mergeable.identity();
    back = serde.deserialize(serde.serialize(identity));
  } catch (e) {
    throw new ConfigError(
      field,
      `identity() of '${String(mergeable.name)}' does not survive the ${serde.name} serde (${(e as Error).message}); use an identity the serde can encode, e.g. null instead of Infinity`,
    );
  }
  if (!sameValue(back, identity)) {
    throw new ConfigError(
      field,
      `identity() of '${String(mergeable.name)}' comes back from the ${serde.name} serde as ${String(JSON.stringify(back))}; use an identity the serde can encode, e.g. null instead of Infinity`,
    );
  }
  return mergeable;
}

/** A function's declared `sends`, checked against the app's functions. */
function sendsOf(
  field: string,
  def: FunctionDefinition,
  names: readonly string[],
): readonly string[] | undefined {
  if (def.sends === undefined) return undefined;
  if (!Array.isArray(def.sends))
    throw new ConfigError(`${field}.sends`, 'must be an array of function names');
  for (const [i, target] of def.sends.entries()) {
    if (!names.includes(target)) {
      throw new ConfigError(
        `${field}.sends[${i}]`,
        `'${String(target)}' is not a function of this app; use one of ${names.join(', ')}`,
      );
    }
  }
  return Object.freeze([...new Set(def.sends)]);
}

/** Watermarks flow along `sends`: with event time the graph (self-loops aside) must have no cycle. */
function checkAcyclic(functions: ReadonlyMap<string, ResolvedFunction>): void {
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (name: string, path: string[]): void => {
    if (state.get(name) === 'done') return;
    if (state.get(name) === 'visiting') {
      const cycle = [...path.slice(path.indexOf(name)), name].join(' -> ');
      throw new ConfigError(
        `functions.${name}.sends`,
        `the functions send in a cycle (${cycle}); watermarks need an acyclic graph: remove the cycle or the app's eventTime option`,
      );
    }
    state.set(name, 'visiting');
    for (const t of functions.get(name)?.sends ?? []) if (t !== name) visit(t, [...path, name]);
    state.set(name, 'done');
  };
  for (const name of functions.keys()) visit(name, []);
}

/** A function's event-time extractor, bound, or undefined. */
function eventTimeOf(field: string, def: FunctionDefinition): ResolvedFunction['eventTime'] {
  if (def.eventTime === undefined) return undefined;
  if (typeof def.eventTime !== 'function') {
    throw new ConfigError(`${field}.eventTime`, 'must be a function (message, origin) => ms since epoch');
  }
  return def.eventTime.bind(def) as ResolvedFunction['eventTime'];
}

/** `leasable` and `critical` of a function; a leasable function may declare mergeable state cells only. */
function resolveLeasing(
  field: string,
  def: FunctionDefinition,
  states: readonly ResolvedState[],
  guarantee: ProcessingGuarantee,
): Pick<ResolvedFunction, 'leasable' | 'critical'> {
  if (def.leasable !== undefined && typeof def.leasable !== 'boolean') {
    throw new ConfigError(`${field}.leasable`, `${String(def.leasable)} must be true or false`);
  }
  if (def.critical !== undefined && typeof def.critical !== 'function') {
    throw new ConfigError(
      `${field}.critical`,
      'must be a function (message, key) => boolean marking the critical messages',
    );
  }
  const leasable = def.leasable ?? false;
  if (leasable && guarantee !== 'exactly_once') {
    throw new ConfigError(
      `${field}.leasable`,
      "leasing needs options.guarantee 'exactly_once' (forwards, syncs and merges commit with the offsets they consume); remove leasable or use exactly_once",
    );
  }
  if (leasable) {
    const exclusive = states.find((s) => s.kind !== 'mergeable');
    if (exclusive !== undefined) {
      throw new ConfigError(
        `${field}.state.${exclusive.name}`,
        `a leasable function may only declare mergeable state, but this is a ${exclusive.kind} cell; declare it with state.mergeable(...) or remove leasable`,
      );
    }
  }
  return {
    leasable,
    critical: def.critical?.bind(def) as ResolvedFunction['critical'],
  };
}

/** Validates an app definition and resolves every default. Throws `ConfigError` naming the field. */
export function resolveApp(app: AppDefinition): ResolvedApp {
  if (app === null || typeof app !== 'object')
    throw new ConfigError('app', 'expected an object from defineApp({...})');
  if (typeof app.name !== 'string' || !NAME.test(app.name)) {
    throw new ConfigError('name', `'${String(app.name)}' must be 1-100 letters, digits, '-' or '_'`);
  }
  const options = resolveOptions(app.name, app.options);
  const prefix = `${options.namespace}.${app.name}`;
  const fnEntries = Object.entries(app.functions ?? {});
  if (fnEntries.length === 0) throw new ConfigError('functions', 'an app needs at least one function');

  const ingresses: ResolvedIngress[] = [];
  const directTopic = new Map<string, string>();
  /** Serde of each function's direct ingress, when the ingress declares one. */
  const directSerde = new Map<string, { serde: Serde<unknown>; index: number }>();
  /** Key serde of each function's direct ingress, when the ingress declares one. */
  const directKeySerde = new Map<string, { serde: KeySerde; index: number }>();
  /** Key serdes the ingresses declare (by index), to default to their target's after the functions. */
  const ingressKeySerdes: (KeySerde | undefined)[] = [];
  (app.ingresses ?? []).forEach((ing: IngressDefinition, i) => {
    const field = `ingresses[${i}]`;
    const topic = topicName(`${field}.topic`, ing?.topic);
    if (typeof ing.to !== 'string' || !(app.functions as Record<string, unknown>)[ing.to]) {
      throw new ConfigError(
        `${field}.to`,
        `'${String(ing.to)}' is not a function of app '${app.name}'; use one of ${fnEntries.map(([n]) => n).join(', ')}`,
      );
    }
    if (ing.key !== undefined && typeof ing.key !== 'function') {
      throw new ConfigError(`${field}.key`, 'must be a function (value, recordKey) => string');
    }
    if (ing.keySerde !== undefined) checkKeySerde(`${field}.keySerde`, ing.keySerde);
    const direct = ing.key === undefined && !directTopic.has(ing.to);
    if (direct) {
      directTopic.set(ing.to, topic);
      if (ing.serde !== undefined) directSerde.set(ing.to, { serde: ing.serde as Serde<unknown>, index: i });
      if (ing.keySerde !== undefined) directKeySerde.set(ing.to, { serde: ing.keySerde, index: i });
    }
    ingressKeySerdes.push(ing.keySerde);
    ingresses.push({
      topic,
      to: ing.to,
      serde: (ing.serde as Serde<unknown> | undefined) ?? json(),
      keySerde: DEFAULT_KEY_SERDE, // set below, once the target function's is known
      direct,
      // A second key-less ingress to the same function is re-keyed by its record key (its exact bytes).
      key: ing.key?.bind(ing) as ResolvedIngress['key'],
      group: `${prefix}.ingress.${topic}`,
    });
  });

  const functions = new Map<string, ResolvedFunction>();
  for (const [name, def] of fnEntries) {
    const field = `functions.${name}`;
    if (!NAME.test(name) || name.startsWith('__'))
      throw new ConfigError(
        field,
        "function names are 1-100 letters, digits, '-' or '_' and may not start with '__' (reserved for the runtime's topics)",
      );
    if (def === null || typeof def !== 'object' || typeof def.handler !== 'function') {
      throw new ConfigError(`${field}.handler`, 'every function needs a handler(ctx, message)');
    }
    const states = resolveStates(field, def);
    const leasing = resolveLeasing(field, def, states, options.guarantee);
    const external = directTopic.get(name);
    // A function that reads its ingress topic directly decodes that topic's records: one serde for both.
    const ingressSerde = directSerde.get(name);
    const message = def.message as Serde<unknown> | undefined;
    if (ingressSerde !== undefined && message !== undefined && ingressSerde.serde.name !== message.name) {
      throw new ConfigError(
        `ingresses[${ingressSerde.index}].serde`,
        `'${ingressSerde.serde.name}' differs from the '${message.name}' message serde of function '${name}', which reads that topic directly; declare the same serde on both (or only one of them)`,
      );
    }
    if (def.keySerde !== undefined) checkKeySerde(`${field}.keySerde`, def.keySerde);
    const ingressKey = directKeySerde.get(name);
    if (
      ingressKey !== undefined &&
      def.keySerde !== undefined &&
      ingressKey.serde !== def.keySerde &&
      ingressKey.serde.name !== def.keySerde.name
    ) {
      throw new ConfigError(
        `ingresses[${ingressKey.index}].keySerde`,
        `'${ingressKey.serde.name}' differs from the '${def.keySerde.name}' key serde of function '${name}', which reads that topic directly; declare the same key serde on both (or only one of them)`,
      );
    }
    const partitions =
      def.partitions === undefined
        ? external === undefined
          ? options.defaultPartitions
          : undefined
        : intIn(`${field}.partitions`, def.partitions, 1, 10_000, options.defaultPartitions);
    functions.set(name, {
      name,
      topic: external ?? `${prefix}.${name}`,
      external: external !== undefined,
      changelogTopic: `${prefix}.${name}.changelog`,
      group: `${prefix}.${name}`,
      partitions,
      serde: ingressSerde?.serde ?? message ?? json(),
      keySerde: def.keySerde ?? ingressKey?.serde ?? DEFAULT_KEY_SERDE,
      states,
      stateful: states.length > 0,
      ...leasing,
      eventTime: eventTimeOf(field, def),
      sends: sendsOf(
        field,
        def,
        fnEntries.map(([n]) => n),
      ),
      definition: def as FunctionDefinition,
    });
  }
  if (options.eventTime !== undefined) checkAcyclic(functions);
  for (let i = 0; i < ingresses.length; i++) {
    const ing = ingresses[i]!;
    ingresses[i] = { ...ing, keySerde: ingressKeySerdes[i] ?? functions.get(ing.to)!.keySerde };
  }

  const egresses = new Map<string, ResolvedEgress>();
  for (const [name, eg] of Object.entries(app.egresses ?? {}) as [string, EgressDefinition][]) {
    const field = `egresses.${name}`;
    egresses.set(name, {
      name,
      topic: topicName(`${field}.topic`, eg?.topic),
      serde: (eg.serde as Serde<unknown> | undefined) ?? json(),
      keySerde: eg.keySerde === undefined ? undefined : checkKeySerde(`${field}.keySerde`, eg.keySerde),
      partitions: intIn(`${field}.partitions`, eg.partitions, 1, 10_000, options.defaultPartitions),
      schedulingHeaders: bool(`${field}.schedulingHeaders`, eg.schedulingHeaders, false),
    });
  }
  const lease: ResolvedLease | undefined = [...functions.values()].some((f) => f.leasable)
    ? {
        topic: `${prefix}.__lease`,
        changelogTopic: `${prefix}.__lease.changelog`,
        group: `${prefix}.__lessees`,
        slots: options.leasing.slots,
      }
    : undefined;
  return Object.freeze({ name: app.name, options, functions, ingresses, egresses, lease, definition: app });
}
