// The worker: one process hosting one or many apps (a shared, multi-tenant pool member). It creates the
// topics the apps need, then runs every function as a member of its consumer group. Lifecycle:
// created -> starting -> running -> stopping -> stopped (or failed), one log line per transition.
import { hostname } from 'node:os';
import {
  type AppDefinition,
  actorId,
  ConfigError,
  type Logger,
  partitionFor,
  type ResolvedApp,
  type ResolvedFunction,
  resolveApp,
  silentLogger,
  type TopicSpec,
  type Transport,
} from '@dirigo/core';
import { FunctionBody } from './actor/function-body.ts';
import { type FunctionEnv, routerFunction } from './actor/function-env.ts';
import { openSerdes } from './actor/serde-hooks.ts';
import { HandlerWatchdog } from './actor/watchdog.ts';
import { type Clock, systemClock } from './clock.ts';
import { ControlChannel } from './control/control-channel.ts';
import type { AppStoppedError } from './errors.ts';
import type { LeaseCounters } from './lease/lease-metrics.ts';
import { type LeasingFaults, WorkerLeasing } from './lease/leasing.ts';
import type { LeaseView } from './lease/lessor.ts';
import { Lifecycle } from './lifecycle.ts';
import { type MetricsServer, startMetricsServer } from './metrics-server.ts';
import { Dispatcher } from './scheduler/dispatcher.ts';
import { InMemorySchedulerMetrics, type SchedulerSnapshot } from './scheduler/metrics.ts';
import { createPolicy } from './scheduler/registry.ts';
import type { PeerLoad, PolicyOptions } from './scheduler/types.ts';
import { spacePrefix, storeKey } from './state/cell-key.ts';
import { type KeyValueStore, MemoryStore } from './state/store.ts';
import { GroupMember } from './task/group-member.ts';
import type { StepOutput } from './task/step-output.ts';

export type WorkerState = 'created' | 'starting' | 'running' | 'stopping' | 'stopped' | 'failed';
const TRANSITIONS: Record<WorkerState, readonly WorkerState[]> = {
  created: ['starting'],
  starting: ['running', 'failed', 'stopping'],
  running: ['stopping', 'failed'],
  stopping: ['stopped', 'failed'],
  stopped: [],
  failed: ['stopping'],
};

export type AppStatus = 'running' | 'stopped' | 'failed';

export interface WorkerOptions {
  readonly transport: Transport;
  readonly apps: readonly AppDefinition[];
  /** Default: a silent logger. */
  readonly logger?: Logger;
  /** Default: wall-clock time. */
  readonly clock?: Clock;
  /** Default `<host>-<pid>-<random>`. */
  readonly workerId?: string;
  /** How often due timers are checked, in ms; 0 disables the interval (call `tick()`). Default 100. */
  readonly tickIntervalMs?: number;
  /** Consumer session timeout. Default 10000. */
  readonly sessionTimeoutMs?: number;
  /** Heartbeat interval. Default 1000. */
  readonly heartbeatIntervalMs?: number;
  /** Partitions each function processes at once on this worker. Default 4. */
  readonly concurrency?: number;
  /**
   * A step still running after this long (a slow or hung handler) is detached from the fetch: its partition
   * pauses until the step ends, and the function's other partitions keep fetching and running. Default 1000.
   */
  readonly detachAfterMs?: number;
  /**
   * The data-plane scheduler: which registered policy picks the next message among all queues of all apps on
   * this worker (`fifo`, `priority`, `edf`, `laxity`, `weighted-fair`, or one of yours, see `registerPolicy`).
   * Default `{ policy: 'edf' }`. `false` runs each step's records in offset order with no scheduler.
   */
  readonly scheduler?: SchedulerOptions | false;
  /**
   * Serve Prometheus metrics (`/metrics`), health (`/healthz`: 200 while live; `/readyz`: 200 once ready, see
   * `WorkerHealth`) and leases (`/leases`, JSON: see `leases()`) on this port (0: any free port). Default: no
   * endpoint.
   */
  readonly metricsPort?: number;
  /**
   * Load reports: this worker publishes its load on the control topic every `loadReportIntervalMs` (default
   * 500; 0 disables) and reads its peers' reports for the scheduler. Topic default `dirigo.control`.
   */
  readonly controlTopic?: string;
  readonly loadReportIntervalMs?: number;
  /** Log a metrics summary (per app satisfaction, p99, throughput; utilisation) this often, ms. Default 10000; 0 disables. */
  readonly metricsLogIntervalMs?: number;
  /**
   * Test-only: faults injected into leasing to prove that the invariants' tests notice a broken invariant
   * (merges skipped, stale replies accepted, sync replies dropped). Never set it in production.
   */
  readonly leasingFaults?: LeasingFaults;
}

/** Options of the worker's data-plane scheduler. */
export interface SchedulerOptions {
  /** Registered policy name. Default 'edf'. */
  readonly policy?: string;
  /** Options passed to the policy factory. */
  readonly options?: PolicyOptions;
  /** Messages running at once (async handlers) across all queues. Default 64. */
  readonly maxInFlight?: number;
  /**
   * Messages of one app running at once (async handlers), so that one app's slow or hung handlers cannot take
   * every slot from the others. Default: `maxInFlight` divided evenly among the worker's apps.
   */
  readonly maxInFlightPerApp?: number;
}

/**
 * What a supervisor needs to know (`Worker.health()`, and `GET /readyz` / `GET /healthz` on the metrics port).
 * `live`: the worker is starting or running (restart it when false). `ready`: running, at least one app running,
 * and every function of every running app has joined its consumer group and opened (restored) the partitions
 * it was given: the worker is doing its share of the work.
 */
export interface WorkerHealth {
  readonly worker: string;
  readonly state: WorkerState;
  readonly live: boolean;
  readonly ready: boolean;
  /** Status per app, and for running apps the functions that have not joined their group yet. */
  readonly apps: Readonly<Record<string, { status: AppStatus; waitingFor?: string[]; error?: string }>>;
}

/** Per-app counters since the worker started. */
export interface AppStats {
  status: AppStatus;
  processed: number;
  deadLettered: number;
  steps: number;
  error?: string;
}

export class Worker {
  readonly id: string;
  private readonly options: WorkerOptions;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly lifecycle: Lifecycle<WorkerState>;
  private readonly runners = new Map<string, GroupMember[]>();
  /** Partition counts of the topics each app reads and writes. */
  private readonly partitionCounts = new Map<string, ReadonlyMap<string, number>>();
  private readonly stats = new Map<string, AppStats>();
  private readonly stores = new Map<string, KeyValueStore>();
  private readonly resolved: ResolvedApp[] = [];
  private sharedProducer: ReturnType<Transport['producer']> | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly metrics: InMemorySchedulerMetrics | undefined;
  private metricsServer: MetricsServer | undefined;
  private control: ControlChannel | undefined;
  private metricsLogger: NodeJS.Timeout | undefined;
  private readonly leasing: WorkerLeasing;
  private starting: Promise<void> | undefined;
  /** Watches running handlers: slow ones are logged, ones past their app's handlerTimeoutMs given up. */
  private readonly watchdog = new HandlerWatchdog();

  constructor(options: WorkerOptions) {
    this.options = options;
    this.id = options.workerId ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.logger = (options.logger ?? silentLogger()).child({ worker: this.id });
    this.clock = options.clock ?? systemClock;
    this.lifecycle = new Lifecycle('worker', 'created', TRANSITIONS, this.logger);
    this.leasing = new WorkerLeasing(this.id, options.leasingFaults);
    this.leasing.setPeers(() => this.peers());
    // Validate every app before touching Kafka: a wrong option fails fast with the field named.
    const names = new Set<string>();
    for (const def of options.apps) {
      const app = resolveApp(def);
      const id = `${app.options.namespace}.${app.name}`;
      if (names.has(id))
        throw new ConfigError('name', `two apps are named '${id}'; app names must be unique per namespace`);
      names.add(id);
      this.resolved.push(app);
    }
    if (options.scheduler === false && options.metricsPort !== undefined) {
      throw new ConfigError(
        'metricsPort',
        'the metrics come from the scheduler; remove `scheduler: false` or `metricsPort`',
      );
    }
    const maxInFlight = options.scheduler ? options.scheduler.maxInFlight : undefined;
    if (maxInFlight !== undefined && (!Number.isInteger(maxInFlight) || maxInFlight < 1)) {
      throw new ConfigError('scheduler.maxInFlight', `${String(maxInFlight)} is not an integer >= 1`);
    }
    const perApp = options.scheduler ? options.scheduler.maxInFlightPerApp : undefined;
    if (perApp !== undefined && (!Number.isInteger(perApp) || perApp < 1)) {
      throw new ConfigError('scheduler.maxInFlightPerApp', `${String(perApp)} is not an integer >= 1`);
    }
    const maxInFlightPerApp =
      perApp ?? Math.max(1, Math.floor((maxInFlight ?? 64) / Math.max(1, this.resolved.length)));
    if (options.scheduler !== false) {
      const policyName = options.scheduler?.policy ?? 'edf';
      const policy = createPolicy(policyName, options.scheduler?.options ?? {});
      this.metrics = new InMemorySchedulerMetrics({ clock: this.clock });
      this.dispatcher = new Dispatcher({
        policy,
        clock: this.clock,
        logger: this.logger.child({ component: 'scheduler' }),
        metrics: this.metrics,
        ...(maxInFlight === undefined ? {} : { maxInFlight }),
        maxInFlightPerApp,
      });
      this.dispatcher.setLeaseSource(() => this.leases().leases);
    }
  }

  private logMetrics(): void {
    const snap = this.metrics?.snapshot();
    if (snap === undefined) return;
    const apps = Object.fromEntries(
      Object.entries(snap.apps).map(([name, a]) => [
        name,
        {
          completed: a.completed,
          satisfaction: a.satisfaction,
          p99Ms: a.latencyMs.p99,
          throughput: a.throughputPerSec,
        },
      ]),
    );
    this.logger.info(
      { apps, utilisation: snap.worker?.utilisation, peers: this.control?.peers().length },
      'scheduler metrics',
    );
  }

  /** Other workers' load as last reported on the control topic. */
  peers(): readonly PeerLoad[] {
    return this.control?.peers() ?? [];
  }

  /** Scheduler metrics (satisfaction, latency, queueing, throughput per app; utilisation, queues). */
  schedulerMetrics(): SchedulerSnapshot | undefined {
    return this.metrics?.snapshot();
  }

  /** The port of the Prometheus endpoint, when `metricsPort` was given. */
  get metricsAddress(): number | undefined {
    return this.metricsServer?.port;
  }

  get state(): WorkerState {
    return this.lifecycle.state;
  }

  /** Liveness and readiness, for supervisors and load balancers (see `WorkerHealth`). */
  health(): WorkerHealth {
    const state = this.lifecycle.state;
    const apps: Record<string, { status: AppStatus; waitingFor?: string[]; error?: string }> = {};
    let running = 0;
    let waiting = 0;
    for (const [name, stats] of this.stats) {
      if (stats.status !== 'running') {
        apps[name] = { status: stats.status, ...(stats.error === undefined ? {} : { error: stats.error }) };
        continue;
      }
      running++;
      const waitingFor = (this.runners.get(name) ?? []).filter((r) => !r.joined).map((r) => r.spec.name);
      waiting += waitingFor.length;
      apps[name] = { status: 'running', ...(waitingFor.length > 0 ? { waitingFor } : {}) };
    }
    return {
      worker: this.id,
      state,
      live: state === 'starting' || state === 'running',
      ready: state === 'running' && running > 0 && waiting === 0,
      apps,
    };
  }

  /**
   * The leases this worker holds as lessor (one per leased key, with its lessees' slots and the key's mode), and
   * the worker's leasing counters (as lessor and as lessee).
   */
  leases(): { leases: LeaseView[]; counters: Readonly<LeaseCounters>; slots: Record<string, number[]> } {
    const leases: LeaseView[] = [];
    for (const members of this.runners.values()) {
      for (const m of members) {
        for (const task of m.openTasks()) {
          if (task.body instanceof FunctionBody) leases.push(...task.body.leases());
        }
      }
    }
    return { leases, counters: this.leasing.counters, slots: this.leasing.ownSlots() };
  }

  /** Counters and status per app (keyed by app name). */
  appStats(): ReadonlyMap<string, Readonly<AppStats>> {
    return this.stats;
  }

  /** The apps as resolved (defaults filled). */
  apps(): readonly ResolvedApp[] {
    return this.resolved;
  }

  /** Starts every app (creates topics, joins the groups, starts the timers and the control channel). */
  start(): Promise<void> {
    this.lifecycle.to('starting', { apps: this.resolved.map((a) => a.name) });
    this.starting = this.run();
    return this.starting;
  }

  private async run(): Promise<void> {
    try {
      const transport = this.options.transport;
      this.sharedProducer = transport.producer({ clientId: `${this.id}.shared` });
      await this.sharedProducer.connect();
      await openSerdes(this.resolved);
      for (const app of this.resolved) await this.startApp(app);
      if (this.options.metricsPort !== undefined && this.metrics) {
        this.metricsServer = await startMetricsServer(
          this.options.metricsPort,
          this.metrics,
          this.id,
          () => this.health(),
          () => this.leases(),
        );
        this.logger.info({ port: this.metricsServer.port }, 'metrics endpoint listening');
      }
      const reportMs = this.options.loadReportIntervalMs ?? 500;
      if (reportMs > 0 && this.dispatcher) {
        this.control = new ControlChannel({
          transport,
          producer: this.sharedProducer,
          topic: this.options.controlTopic ?? 'dirigo.control',
          workerId: this.id,
          dispatcher: this.dispatcher,
          clock: this.clock,
          logger: this.logger.child({ component: 'control' }),
          intervalMs: reportMs,
          slots: () => this.leasing.ownSlots(),
        });
        await this.control.start();
      }
      const logMs = this.options.metricsLogIntervalMs ?? 10_000;
      if (logMs > 0 && this.metrics) {
        this.metricsLogger = setInterval(() => this.logMetrics(), logMs);
        this.metricsLogger.unref();
      }
      const tick = this.options.tickIntervalMs ?? 100;
      if (tick > 0) {
        this.ticker = setInterval(() => void this.tick(), tick);
        this.ticker.unref();
      }
      this.lifecycle.to('running');
    } catch (e) {
      this.lifecycle.to('failed', { err: e });
      throw e;
    }
  }

  private async startApp(app: ResolvedApp): Promise<void> {
    const log = this.logger.child({ app: app.name });
    const partitions = await this.ensureTopics(app);
    this.partitionCounts.set(app.name, partitions);
    this.stats.set(app.name, { status: 'running', processed: 0, deadLettered: 0, steps: 0 });
    const priorityHeader = Buffer.from(app.options.priority);
    const env = (fn: ResolvedFunction, hasChangelog: boolean): FunctionEnv => ({
      app,
      fn,
      hasChangelog,
      cellPrefix: spacePrefix({ app: app.name, fn: fn.name, slot: null }),
      workerId: this.id,
      clock: this.clock,
      logger: log.child({ fn: fn.name }),
      partitions,
      priorityHeader,
      metaCache: { at: Number.NaN, headers: undefined },
      watchdog: this.watchdog,
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    // Functions keep state and timers in changelogs; routers (re-keying ingresses) have neither.
    const envs = [
      ...[...app.functions.values()].map((fn) => env(fn, true)),
      ...app.ingresses.filter((ing) => !ing.direct).map((ing) => env(routerFunction(ing), false)),
    ];
    const members: GroupMember[] = [];
    this.runners.set(app.name, members);
    const taskDeps = (logger: Logger) => ({
      transport: this.options.transport,
      sharedProducer: this.sharedProducer!,
      clock: this.clock,
      logger,
      takeStore: (t: string, p: number) => this.takeStore(t, p),
      keepStore: (t: string, p: number, s: KeyValueStore) => void this.stores.set(`${t}/${p}`, s),
      newStore: async (t: string, p: number): Promise<KeyValueStore> =>
        app.options.store === 'persistent'
          ? (await import('./state/lmdb-store.ts')).LmdbStore.open(app.options.stateDir, t, p)
          : new MemoryStore(),
      onStep: (out: StepOutput) => this.onStep(app.name, out),
    });
    const memberOptions = {
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 1_000,
      concurrency: this.options.concurrency ?? 4,
      detachAfterMs: this.options.detachAfterMs ?? 1_000,
      onAppStopped: (err: AppStoppedError) => void this.stopApp(app.name, err),
    };
    const leasingDeps = this.leasing.deps;
    for (const e of envs) {
      const member = new GroupMember(
        {
          app: app.name,
          name: e.fn.name,
          group: e.fn.group,
          topic: e.fn.topic,
          exactlyOnce: app.options.guarantee === 'exactly_once',
          body: () => new FunctionBody(e, leasingDeps),
        },
        taskDeps(e.logger),
        memberOptions,
      );
      members.push(member);
      await member.start(this.id);
    }
    const lessees = this.leasing.member(app, envs, taskDeps(log.child({ fn: '__lease' })), memberOptions);
    if (lessees !== undefined) {
      members.push(lessees);
      await lessees.start(this.id);
    }
    log.info({ functions: envs.map((e) => e.fn.name) }, 'app started');
  }

  private takeStore(topic: string, partition: number): KeyValueStore | undefined {
    const key = `${topic}/${partition}`;
    const s = this.stores.get(key);
    this.stores.delete(key);
    return s;
  }

  private onStep(app: string, out: StepOutput): void {
    const s = this.stats.get(app);
    if (s === undefined) return;
    s.processed += out.processed;
    s.deadLettered += out.deadLettered;
    s.steps++;
  }

  /** Creates missing topics and learns the partition count of every topic the app reads or writes. */
  private async ensureTopics(app: ResolvedApp): Promise<Map<string, number>> {
    const admin = await this.options.transport.admin();
    const rf = app.options.replicationFactor;
    const specs: TopicSpec[] = [];
    const partitions = new Map<string, number>();
    const external = [...new Set([...app.functions.values()].filter((f) => f.external).map((f) => f.topic))];
    const routed = app.ingresses.filter((i) => !i.direct).map((i) => i.topic);
    const existing = new Set(await admin.listTopics());
    for (const topic of [...external, ...routed]) {
      if (!existing.has(topic)) {
        const i = app.ingresses.findIndex((ing) => ing.topic === topic);
        throw new ConfigError(
          `ingresses[${i}].topic`,
          `topic '${topic}' does not exist; create it before starting app '${app.name}'`,
        );
      }
    }
    if (external.length > 0) {
      for (const d of await admin.describeTopics(external)) partitions.set(d.name, d.partitions);
    }
    for (const fn of app.functions.values()) {
      let n = fn.partitions;
      if (fn.external) {
        const actual = partitions.get(fn.topic)!;
        if (n !== undefined && n !== actual) {
          throw new ConfigError(
            `functions.${fn.name}.partitions`,
            `${n} differs from the ${actual} partitions of its ingress topic '${fn.topic}'; remove the option or make them equal`,
          );
        }
        n = actual;
      } else {
        specs.push({ name: fn.topic, partitions: n!, ...(rf ? { replicationFactor: rf } : {}) });
      }
      specs.push({
        name: fn.changelogTopic,
        partitions: n!,
        compacted: true,
        ...(rf ? { replicationFactor: rf } : {}),
      });
    }
    for (const eg of app.egresses.values())
      specs.push({ name: eg.topic, partitions: eg.partitions, ...(rf ? { replicationFactor: rf } : {}) });
    specs.push(...this.leasing.topics(app, rf));
    specs.push({
      name: app.options.deadLetterTopic,
      partitions: app.options.defaultPartitions,
      ...(rf ? { replicationFactor: rf } : {}),
    });
    await admin.createTopics(specs);
    const names = [...new Set(specs.map((s) => s.name))];
    for (const d of await admin.describeTopics(names)) partitions.set(d.name, d.partitions);
    for (const fn of app.functions.values()) {
      if (partitions.get(fn.changelogTopic) !== partitions.get(fn.topic)) {
        throw new ConfigError(
          `functions.${fn.name}.partitions`,
          `changelog '${fn.changelogTopic}' has ${partitions.get(fn.changelogTopic)} partitions but input '${fn.topic}' has ${partitions.get(fn.topic)}; they must be co-partitioned (delete the changelog or restore the old count)`,
        );
      }
    }
    return partitions;
  }

  /**
   * Committed state of actor (`app`, `fn`, `key`) if this worker owns its partition, else undefined. `key`: as
   * `ctx.key` shows it (text of the function's key serde), or the key's exact bytes. A value state's value, or a
   * map state's entries as an object. For tests and inspection.
   */
  async readState(app: string, fn: string, key: string | Buffer, stateName: string): Promise<unknown> {
    const resolved = this.resolved.find((a) => a.name === app)?.functions.get(fn);
    const member = this.runners.get(app)?.find((r) => r.spec.name === fn);
    const spec = resolved?.states.find((s) => s.name === stateName);
    if (resolved === undefined || member === undefined || spec === undefined) return undefined;
    const partitions = this.partitionCounts.get(app)?.get(resolved.topic);
    if (partitions === undefined) return undefined;
    // `key` as the handler sees it (its bytes by the function's key serde), or the exact key bytes.
    const bytes = Buffer.isBuffer(key) ? key : resolved.keySerde.serialize(key);
    const layer = (await member.task(partitionFor(bytes, partitions)))?.stateLayer;
    if (layer === undefined) return undefined;
    const ck = storeKey(spacePrefix({ app, fn, slot: null }), stateName, actorId(bytes));
    if (spec.kind !== 'map') return layer.store.getValue(ck);
    const entries = [...layer.store.entries(ck)];
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }

  /** Fires due timers now (the interval calls this; the test driver calls it after moving its clock). */
  async tick(): Promise<void> {
    this.dispatcher?.tick();
    for (const runners of this.runners.values()) for (const r of runners) await r.tick();
  }

  private async stopApp(name: string, error?: AppStoppedError): Promise<void> {
    const runners = this.runners.get(name);
    if (runners === undefined) return;
    this.runners.delete(name);
    this.leasing.forget(name);
    const s = this.stats.get(name);
    if (s) {
      s.status = error ? 'failed' : 'stopped';
      if (error) s.error = error.message;
    }
    await Promise.all(
      runners.map((r) =>
        r.stop().catch((e: unknown) => this.logger.warn({ err: e }, 'stopping a function failed')),
      ),
    );
    this.logger.info({ app: name, failed: error !== undefined }, 'app stopped');
  }

  /**
   * Graceful stop: finish in-flight steps, commit, leave the groups, close connections. Called while the worker
   * is starting, it waits for the start to end first.
   */
  async stop(): Promise<void> {
    // A stop during the start (a SIGTERM right after launch) waits for the start to end, then stops.
    if (this.lifecycle.is('starting')) await this.starting?.catch(() => {});
    if (this.lifecycle.is('stopped', 'stopping', 'created')) return;
    this.lifecycle.to('stopping');
    if (this.ticker) clearInterval(this.ticker);
    if (this.metricsLogger) clearInterval(this.metricsLogger);
    await this.control
      ?.stop()
      .catch((e: unknown) => this.logger.warn({ err: e }, 'stopping the control channel failed'));
    await Promise.all([...this.runners.keys()].map((name) => this.stopApp(name)));
    this.dispatcher?.close();
    this.watchdog.close();
    await this.metricsServer?.close();
    for (const s of this.stores.values()) await s.close();
    this.stores.clear();
    await this.sharedProducer?.disconnect().catch(() => {});
    this.lifecycle.to('stopped');
  }
}
