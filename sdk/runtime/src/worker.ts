// The worker: one process hosting one or many apps (a shared, multi-tenant pool member). It creates the
// topics the apps need, then runs every function as a member of its consumer group. Lifecycle:
// created -> starting -> running -> stopping -> stopped (or failed), one log line per transition.
import { hostname } from 'node:os';
import {
  AuthorizationError,
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
import { AssignmentWatch } from './assignment-watch.ts';
import { type Clock, systemClock } from './clock.ts';
import { checkHost, checkIntOption, checkTopicName, MAX_INT32 } from './config-values.ts';
import { ControlChannel, type ControlStats } from './control/control-channel.ts';
import { AppStoppedError, InternalError } from './errors.ts';
import type { LeaseCounters } from './lease/lease-metrics.ts';
import { type LeasingFaults, WorkerLeasing } from './lease/leasing.ts';
import type { LeaseView } from './lease/lessor.ts';
import { Lifecycle } from './lifecycle.ts';
import { FunctionMetricsTable } from './metrics/function-metrics.ts';
import { LagSampler, type LagTarget } from './metrics/lag.ts';
import { PurgeMetricsTable } from './metrics/purge-metrics.ts';
import { type MetricsServer, startMetricsServer } from './metrics-server.ts';
import { Dispatcher } from './scheduler/dispatcher.ts';
import { InMemorySchedulerMetrics, type SchedulerSnapshot } from './scheduler/metrics.ts';
import { createPolicy } from './scheduler/registry.ts';
import type { PeerLoad, PolicyOptions } from './scheduler/types.ts';
import { cellAddressing, spacePrefix, storeHead, storeKey } from './state/cell-key.ts';
import { type KeyValueStore, MemoryStore } from './state/store.ts';
import { SharedAdminTransport } from './shared-admin.ts';
import { GroupMember } from './task/group-member.ts';
import { PURGED_TOPIC_CONFIG, retentionProblem } from './topic-retention.ts';
import type { StepOutput } from './task/step-output.ts';
import { Tracing, type TracingOptions } from './trace/tracing.ts';

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
   * Exactly-once v2 (KIP-447, Kafka Streams' `exactly_once_v2`) for apps with `guarantee: 'exactly_once'`: one
   * transactional producer per function group on this worker (transactional id `<group>.<worker id>`) commits the
   * steps of all the partitions it owns, several steps per transaction, and zombies are fenced by the group
   * generation their offsets carry. false: one transactional producer per input partition (v1, fenced by its
   * transactional id). Default: v2 where the transport supports it (`Transport.exactlyOnceV2`: both built-in
   * transports, platformatic on either group protocol), v1 elsewhere; true on a transport without it is a
   * ConfigError.
   * Give each worker a stable `workerId` under v2: a restarted worker then aborts what its crashed predecessor
   * left open at once, instead of after the 10 s transaction timeout.
   */
  readonly exactlyOnceV2?: boolean;
  /**
   * Under exactly-once v2, also fence the v1 producer (`<group>.<partition>`) of each input partition this worker
   * opens, so that a v1 worker of the same app frozen or cut off with that partition cannot commit after it: the
   * second roll of a change from v1 to v2 (see the guide) is then safe. Costs one producer registration per partition
   * opened, as v1 itself pays. Default true; false when no worker of the app ever ran v1.
   */
  readonly exactlyOnceFenceV1?: boolean;
  /**
   * Pipelined steps: a partition's next step runs while the previous one commits (one commit in flight per
   * partition, in order), instead of after it. The commit round trip then no longer paces a busy partition: shorter
   * waits, and the handlers run while the broker works. Outputs, state and positions still become visible only with
   * their commit, under every guarantee; a failed commit fails the steps after it too, and their records are
   * processed again. Default true; false waits for each commit before the next step.
   */
  readonly pipelineSteps?: boolean;
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
   * The address the metrics endpoint listens on. Default `127.0.0.1` (this machine only): metrics, health and
   * leases reveal the apps, topics, worker ids and load of the pool. Set `0.0.0.0` (or the address of one
   * interface) to let a scraper on another machine in, e.g. in a container whose port is published.
   */
  readonly metricsHost?: string;
  /**
   * A function whose consumer holds no assignment for this long (it never joined its group, or its partitions
   * were revoked and none came back: its Kafka client stopped for good, or cannot reach the group coordinator)
   * stops its app on this worker, as `onError: 'stop'` does (status `failed`, partitions left to other workers).
   * Longer than any rebalance (kafkajs waits up to 60 s for the members of a group to re-join). Default 120000;
   * 0 disables the check. A consumer whose transport knows it stopped for good (the broker refused its group, a
   * non-retriable client error) stops its app at once, whatever this is.
   */
  readonly assignmentTimeoutMs?: number;
  /**
   * Load reports: this worker publishes its load on the control topic every `loadReportIntervalMs` (default
   * 100; 0 disables) and reads its peers' reports for the scheduler (the `dirigo` policy's choice of lessee and
   * how much to forward rest on them: fresher reports split a hot key's work better). Topic default `dirigo.control`.
   */
  readonly controlTopic?: string;
  readonly loadReportIntervalMs?: number;
  /**
   * How often each group member deletes the records its group has committed from the internal topics it
   * consumes (the input topics of functions fed by sends, and the lease topic), ms: Kafka Streams'
   * `repartition.purge.interval.ms`. Those topics are created with `retention.ms=-1`, so that a record older
   * than the broker's retention (event time in an event-time app, replayed or back-filled input) is not
   * deleted before it is consumed. Default 30000; 0 never purges (the topics then grow without bound).
   */
  readonly purgeIntervalMs?: number;
  /** Log a metrics summary (per app satisfaction, p99, throughput; utilisation) this often, ms. Default 10000; 0 disables. */
  readonly metricsLogIntervalMs?: number;
  /**
   * OpenTelemetry spans per step and per handler (see `TracingOptions`). Default: the global tracer provider of
   * `@opentelemetry/api`, i.e. no spans unless an SDK is installed; `traceparent` headers are carried either way.
   */
  readonly tracing?: TracingOptions;
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
  /**
   * Most messages of one queue (a partition of a function) run after one decision of the policy, while each
   * completes synchronously and costs a few microseconds (see `runBudgetMs`). Default 32; 1 asks the policy about
   * every message.
   */
  readonly runLength?: number;
  /**
   * How long a run may take by the function's cost estimate, ms: a function whose messages cost more than this
   * gets a decision per message. Default 0.25.
   */
  readonly runBudgetMs?: number;
}

/**
 * What a supervisor needs to know (`Worker.health()`, and `GET /readyz` / `GET /healthz` on the metrics port).
 * `live`: the worker is starting, or running with at least one app running (restart it when false: nothing
 * restarts a stopped app inside a process). `ready`: running, at least one app running, and every function of
 * every running app has joined its consumer group and opened (restored) the partitions it was given: the worker
 * is doing its share of the work. `apps` is keyed like `appStats()`.
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
  /** Transactions committed (exactly-once): one per step under v1, one per several steps under v2. */
  transactions: number;
  error?: string;
}

/** The qualified id of an app on a worker: `<namespace>.<name>`, unique among the worker's apps. */
const appId = (app: ResolvedApp): string => `${app.options.namespace}.${app.name}`;

/** What a graceful stop is still waiting for (`Worker.stopProgress()`). */
export interface StopProgress {
  /** The stage of the stop: not started, or the part being closed now. */
  readonly phase: 'not stopping' | 'control channel' | 'apps' | 'stores' | 'producer' | 'done';
  /** Functions whose consumer has not left its group yet (their in-flight step has not finished). */
  readonly running: readonly { app: string; fn: string; partitions: number[] }[];
}

export class Worker {
  readonly id: string;
  private readonly options: WorkerOptions;
  /** `options.transport` with one admin client for the whole worker (closed when it stops). */
  private readonly transport: SharedAdminTransport;
  private readonly logger: Logger;
  private readonly clock: Clock;
  private readonly lifecycle: Lifecycle<WorkerState>;
  /** Per app id (`<namespace>.<name>`): its group members, partition counts, counters. */
  private readonly runners = new Map<string, GroupMember[]>();
  private readonly partitionCounts = new Map<string, ReadonlyMap<string, number>>();
  private readonly stats = new Map<string, AppStats>();
  /** The key of each app id in `appStats()` and `health()`: its name when unique on this worker, else its id. */
  private readonly publicKeys = new Map<string, string>();
  private readonly stores = new Map<string, KeyValueStore>();
  private readonly resolved: ResolvedApp[] = [];
  private sharedProducer: ReturnType<Transport['producer']> | undefined;
  private ticker: NodeJS.Timeout | undefined;
  private readonly dispatcher: Dispatcher | undefined;
  private readonly metrics: InMemorySchedulerMetrics | undefined;
  /** Counters and histograms per (app, function): the Prometheus endpoint and the live view read them. */
  private readonly functionMetrics = new FunctionMetricsTable();
  private readonly purgeMetrics = new PurgeMetricsTable();
  private metricsServer: MetricsServer | undefined;
  private control: ControlChannel | undefined;
  private metricsLogger: NodeJS.Timeout | undefined;
  private readonly leasing: WorkerLeasing;
  private starting: Promise<void> | undefined;
  /** Watches running handlers: slow ones are logged, ones past their app's handlerTimeoutMs given up. */
  private readonly watchdog = new HandlerWatchdog();
  private readonly assignments = new AssignmentWatch(undefined, (group, error) =>
    this.consumerStopped(group, error),
  );
  private assignmentTimer: NodeJS.Timeout | undefined;
  /** Group members being stopped: their app id and the end of their stop. */
  private readonly stoppingMembers = new Map<GroupMember, { id: string; done: Promise<void> }>();
  private stopPhase: StopProgress['phase'] = 'not stopping';
  private readonly tracing: Tracing;

  constructor(options: WorkerOptions) {
    this.options = options;
    this.transport = new SharedAdminTransport(options.transport);
    this.id = options.workerId ?? `${hostname()}-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
    this.logger = (options.logger ?? silentLogger()).child({ worker: this.id });
    this.clock = options.clock ?? systemClock;
    this.lifecycle = new Lifecycle('worker', 'created', TRANSITIONS, this.logger);
    this.tracing = new Tracing(options.tracing);
    this.leasing = new WorkerLeasing(this.id, options.leasingFaults, (app, fn) =>
      this.functionMetrics.get(app, fn),
    );
    this.leasing.setPeers(() => this.peers());
    checkWorkerOptions(options);
    // Validate every app before touching Kafka: a wrong option fails fast with the field named.
    const names = new Set<string>();
    for (const def of options.apps) {
      const app = resolveApp(def);
      const id = appId(app);
      if (names.has(id))
        throw new ConfigError('name', `two apps are named '${id}'; app names must be unique per namespace`);
      names.add(id);
      this.resolved.push(app);
    }
    for (const app of this.resolved) {
      const same = this.resolved.filter((a) => a.name === app.name);
      this.publicKeys.set(appId(app), same.length > 1 ? appId(app) : app.name);
      const leasing = same.filter((a) => a.lease !== undefined);
      if (leasing.length > 1) {
        // Leasing (lessee groups, the slots published in load reports) knows apps by name only.
        throw new ConfigError(
          'name',
          `apps ${leasing.map((a) => `'${appId(a)}'`).join(' and ')} share a name and both have leasable functions; run them on different workers or rename one`,
        );
      }
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
    const runLength = options.scheduler ? options.scheduler.runLength : undefined;
    checkIntOption(runLength, 'scheduler.runLength', 1, MAX_INT32);
    const runBudgetMs = options.scheduler ? options.scheduler.runBudgetMs : undefined;
    if (runBudgetMs !== undefined && !(Number.isFinite(runBudgetMs) && runBudgetMs >= 0)) {
      throw new ConfigError('scheduler.runBudgetMs', `${String(runBudgetMs)} is not a number of ms >= 0`);
    }
    if (options.scheduler !== false) {
      const policyName = options.scheduler?.policy ?? 'edf';
      const policy = createPolicy(policyName, options.scheduler?.options ?? {});
      this.metrics = new InMemorySchedulerMetrics({ clock: this.clock, functions: this.functionMetrics });
      this.dispatcher = new Dispatcher({
        policy,
        clock: this.clock,
        logger: this.logger.child({ component: 'scheduler' }),
        metrics: this.metrics,
        ...(maxInFlight === undefined ? {} : { maxInFlight }),
        maxInFlightPerApp,
        ...(runLength === undefined ? {} : { runLength }),
        ...(runBudgetMs === undefined ? {} : { runBudgetMs }),
      });
      this.dispatcher.setLeaseSource(() => this.leases().leases);
    }
  }

  /** The app id (`<namespace>.<name>`) that `app` names: an id, or a name unique on this worker. */
  private idOf(app: string): string | undefined {
    if (this.publicKeys.has(app)) return app;
    for (const [id, key] of this.publicKeys) if (key === app) return id;
    return undefined;
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

  /** The address and port the metrics endpoint listens on, when `metricsPort` was given. */
  get metricsEndpoint(): { host: string; port: number } | undefined {
    const s = this.metricsServer;
    return s === undefined ? undefined : { host: s.host, port: s.port };
  }

  /** Exactly-once v2 for this worker's exactly-once apps: as configured, else where the transport can. */
  private get exactlyOnceV2(): boolean {
    return this.options.exactlyOnceV2 ?? this.options.transport.exactlyOnceV2 === true;
  }

  /** The exactly-once protocol of each exactly-once app of this worker (its load reports carry them; the apps are fixed at construction). */
  private exactlyOnceApps(): Record<string, 'v1' | 'v2'> {
    const version = this.exactlyOnceV2 ? 'v2' : 'v1';
    const out: Record<string, 'v1' | 'v2'> = {};
    for (const app of this.resolved) if (app.options.guarantee === 'exactly_once') out[app.name] = version;
    return out;
  }

  /**
   * Counters of the control channel (load reports published, received, and skipped as unknown or forged; peers
   * running one of this worker's apps under the other exactly-once protocol).
   */
  controlStats(): Readonly<ControlStats> | undefined {
    return this.control?.stats;
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
    for (const [id, stats] of this.stats) {
      const key = this.publicKeys.get(id) ?? id;
      if (stats.status !== 'running') {
        apps[key] = { status: stats.status, ...(stats.error === undefined ? {} : { error: stats.error }) };
        continue;
      }
      running++;
      const waitingFor = (this.runners.get(id) ?? []).filter((r) => !r.joined).map((r) => r.spec.name);
      waiting += waitingFor.length;
      apps[key] = { status: 'running', ...(waitingFor.length > 0 ? { waitingFor } : {}) };
    }
    return {
      worker: this.id,
      state,
      live: state === 'starting' || (state === 'running' && running > 0),
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

  /** The partitions each function group owns here, with their positions (for the lag metric). */
  private lagTargets(): LagTarget[] {
    const out: LagTarget[] = [];
    for (const [id, members] of this.runners) {
      // Metrics label apps by name (as the scheduler's metrics do), not by `<namespace>.<name>`.
      const app = this.resolved.find((a) => appId(a) === id)?.name ?? id;
      for (const m of members) {
        out.push({
          app,
          fn: m.spec.name,
          topic: m.spec.topic,
          positions: () => m.openTasks().map((t) => ({ partition: t.input.partition, position: t.position })),
        });
      }
    }
    return out;
  }

  /**
   * Counters and status per app, keyed by app name; an app whose name another app on this worker shares (in
   * another namespace) is keyed by `<namespace>.<name>` instead.
   */
  appStats(): ReadonlyMap<string, Readonly<AppStats>> {
    const out = new Map<string, Readonly<AppStats>>();
    for (const [id, stats] of this.stats) out.set(this.publicKeys.get(id) ?? id, stats);
    return out;
  }

  /**
   * What a graceful stop is still waiting for: its phase, and the functions whose consumer has not left its
   * group yet, with the partitions they hold (their in-flight step has not finished).
   */
  stopProgress(): StopProgress {
    const running = [...this.stoppingMembers].map(([m, { id }]) => ({
      app: this.publicKeys.get(id) ?? id,
      fn: m.spec.name,
      partitions: m.partitions().sort((a, b) => a - b),
    }));
    return { phase: this.stopPhase, running };
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
      const transport = this.transport;
      this.sharedProducer = transport.producer({ clientId: `${this.id}.shared` });
      await this.sharedProducer.connect();
      const assignmentTimeoutMs = this.options.assignmentTimeoutMs ?? 120_000;
      if (assignmentTimeoutMs > 0) {
        this.assignmentTimer = setInterval(
          () => this.checkAssignments(assignmentTimeoutMs),
          Math.min(1_000, assignmentTimeoutMs),
        );
        this.assignmentTimer.unref();
      }
      await openSerdes(this.resolved);
      for (const app of this.resolved) await this.startApp(app);
      if (this.options.metricsPort !== undefined && this.metrics) {
        const lag = new LagSampler(transport, () => this.lagTargets(), this.logger);
        const targets = new Map(this.resolved.map((a) => [a.name, a.options.latencyTargetMs]));
        this.metricsServer = await startMetricsServer(
          this.options.metricsPort,
          this.options.metricsHost ?? '127.0.0.1',
          {
            workerId: this.id,
            scheduler: this.metrics,
            functions: this.functionMetrics,
            lag,
            targets,
            health: () => this.health(),
            leases: () => this.leases(),
            peers: () => this.peers(),
            slots: () => this.leasing.ownSlots(),
            handlers: () => this.watchdog.counters,
            purges: this.purgeMetrics,
          },
        );
        const { host, port } = this.metricsServer;
        this.logger.info(
          { host, port, dashboard: `http://${host === '0.0.0.0' ? 'localhost' : host}:${port}/dashboard` },
          'metrics endpoint listening',
        );
      }
      const reportMs = this.options.loadReportIntervalMs ?? 100;
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
          exactlyOnce: this.exactlyOnceApps(),
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
      if (this.assignmentTimer) clearInterval(this.assignmentTimer);
      this.lifecycle.to('failed', { err: e });
      throw e;
    }
  }

  /**
   * Stops, as failed, every running app one of whose consumers has held no assignment for `timeoutMs` (see
   * `assignmentTimeoutMs`).
   */
  private checkAssignments(timeoutMs: number): void {
    if (!this.lifecycle.is('starting', 'running')) return;
    for (const [id, members] of this.runners) {
      if (this.stats.get(id)?.status !== 'running') continue;
      for (const m of members) {
        const ms = this.assignments.unassignedMs(m.spec.group);
        if (ms === undefined || ms < timeoutMs) continue;
        this.failApp(
          id,
          m.spec.group,
          `the consumer of '${m.spec.name}' (group ${m.spec.group}) has had no partition assignment for ${Math.round(ms / 1000)} s; its Kafka client stopped for good or cannot reach the group coordinator (see the transport's log lines before this one). Restart the worker`,
        );
        break;
      }
    }
  }

  /**
   * A consumer of `group` stopped for good (its transport said so: the broker refused the group, a non-retriable
   * client error): its app stops at once, as failed, with the transport's reason, instead of after the assignment
   * timeout.
   */
  private consumerStopped(group: string, error: Error): void {
    if (!this.lifecycle.is('starting', 'running')) return;
    for (const [id, members] of this.runners) {
      if (this.stats.get(id)?.status !== 'running') continue;
      const m = members.find((r) => r.spec.group === group);
      if (m === undefined) continue;
      this.failApp(
        id,
        group,
        `the consumer of '${m.spec.name}' (group ${group}) stopped for good: ${error.message}`,
        error,
      );
      return;
    }
  }

  /** Stops app `id` as failed because of a consumer of `group`: `app '<name>' stopped: <why>`, logged. */
  private failApp(id: string, group: string, why: string, cause?: Error): void {
    const app = this.resolved.find((a) => appId(a) === id)!;
    const err = new AppStoppedError(
      app.name,
      `app '${app.name}' stopped: ${why}`,
      cause === undefined ? undefined : { cause },
    );
    this.logger.error({ err, app: app.name, group }, err.message);
    void this.stopApp(id, err);
  }

  private async startApp(app: ResolvedApp): Promise<void> {
    const id = appId(app);
    const log = this.logger.child({ app: app.name });
    const partitions = await this.ensureTopics(app);
    await this.checkGroupAccess(app);
    this.partitionCounts.set(id, partitions);
    this.stats.set(id, { status: 'running', processed: 0, deadLettered: 0, steps: 0, transactions: 0 });
    const priorityHeader = Buffer.from(app.options.priority);
    const env = (fn: ResolvedFunction, hasChangelog: boolean): FunctionEnv => ({
      app,
      fn,
      hasChangelog,
      ...cellAddressing(spacePrefix({ app: app.name, fn: fn.name, slot: null }), fn.states),
      workerId: this.id,
      clock: this.clock,
      logger: log.child({ fn: fn.name }),
      partitions,
      priorityHeader,
      metaCache: { at: Number.NaN, headers: undefined },
      watchdog: this.watchdog,
      tracing: this.tracing,
      ...(this.dispatcher ? { dispatcher: this.dispatcher } : {}),
    });
    // Functions keep state and timers in changelogs; routers (re-keying ingresses) have neither.
    const envs = [
      ...[...app.functions.values()].map((fn) => env(fn, true)),
      ...app.ingresses.filter((ing) => !ing.direct).map((ing) => env(routerFunction(ing), false)),
    ];
    const members: GroupMember[] = [];
    this.runners.set(id, members);
    const watched = this.assignments.wrap(this.transport);
    const pipelineSteps = this.options.pipelineSteps !== false;
    const taskDeps = (logger: Logger, fn: string) => ({
      transport: watched,
      sharedProducer: this.sharedProducer!,
      clock: this.clock,
      logger,
      takeStore: (t: string, p: number) => this.takeStore(t, p),
      keepStore: (t: string, p: number, s: KeyValueStore) => void this.stores.set(`${t}/${p}`, s),
      newStore: async (t: string, p: number): Promise<KeyValueStore> =>
        app.options.store === 'persistent'
          ? (await import('./state/lmdb-store.ts')).LmdbStore.open(app.options.stateDir, t, p)
          : new MemoryStore(),
      onStep: (out: StepOutput) => this.onStep(id, app.name, fn, out),
      pipelineSteps,
      onTransaction: () => {
        this.functionMetrics.get(app.name, fn).transactions++;
        const s = this.stats.get(id);
        if (s !== undefined) s.transactions++;
      },
    });
    const memberOptions = {
      sessionTimeoutMs: this.options.sessionTimeoutMs ?? 10_000,
      heartbeatIntervalMs: this.options.heartbeatIntervalMs ?? 1_000,
      concurrency: this.options.concurrency ?? 4,
      exactlyOnceV2: this.exactlyOnceV2,
      ...(this.options.exactlyOnceFenceV1 === false ? { exactlyOnceFenceV1: false } : {}),
      detachAfterMs: this.options.detachAfterMs ?? 1_000,
      onAppStopped: (err: AppStoppedError) => void this.stopApp(id, err),
      onStepRetried: (fn: string) => void this.functionMetrics.get(app.name, fn).retried++,
      purgeIntervalMs: this.options.purgeIntervalMs ?? 30_000,
      purgeMetrics: this.purgeMetrics,
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
          purge: !e.fn.external,
          body: () => new FunctionBody(e, leasingDeps),
        },
        taskDeps(e.logger, e.fn.name),
        memberOptions,
      );
      members.push(member);
      await member.start(this.id);
    }
    const lessees = this.leasing.member(
      app,
      envs,
      taskDeps(log.child({ fn: '__lease' }), '__lease'),
      memberOptions,
    );
    if (lessees !== undefined) {
      members.push(lessees);
      await lessees.start(this.id);
    }
    log.info(
      {
        functions: envs.map((e) => e.fn.name),
        pipelineSteps,
        ...(app.options.guarantee === 'exactly_once'
          ? {
              exactlyOnce: memberOptions.exactlyOnceV2 ? 'v2' : 'v1',
              ...(memberOptions.exactlyOnceV2 ? { fenceV1: memberOptions.exactlyOnceFenceV1 !== false } : {}),
            }
          : {}),
      },
      'app started',
    );
  }

  private takeStore(topic: string, partition: number): KeyValueStore | undefined {
    const key = `${topic}/${partition}`;
    const s = this.stores.get(key);
    this.stores.delete(key);
    return s;
  }

  private onStep(id: string, app: string, fn: string, out: StepOutput): void {
    const m = this.functionMetrics.get(app, fn);
    m.processed += out.processed;
    m.deadLettered += out.deadLettered;
    m.forwarded += out.forwarded;
    m.steps++;
    const s = this.stats.get(id);
    if (s === undefined) return;
    s.processed += out.processed;
    s.deadLettered += out.deadLettered;
    s.steps++;
  }

  /**
   * Reads the committed offsets of each of the app's consumer groups once (all at once), so that a group the principal may not
   * use (an ACL) fails the start with an `AuthorizationError` naming it, as a refused topic does, instead of a
   * member retrying its join until the assignment watch gives up. Any other failure is left to the members.
   */
  private async checkGroupAccess(app: ResolvedApp): Promise<void> {
    const admin = await this.transport.admin();
    const groups: [string, string][] = [...app.functions.values()].map((f) => [f.group, f.topic]);
    for (const ingress of app.ingresses) if (!ingress.direct) groups.push([ingress.group, ingress.topic]);
    if (app.lease !== undefined) groups.push([app.lease.group, app.lease.topic]);
    await Promise.all(
      groups.map(([group, topic]) =>
        admin.fetchCommittedOffsets(group, topic).catch((e: unknown) => {
          if (e instanceof AuthorizationError && e.resource === 'group') throw e;
        }),
      ),
    );
  }

  /** Creates missing topics and learns the partition count of every topic the app reads or writes. */
  private async ensureTopics(app: ResolvedApp): Promise<Map<string, number>> {
    const admin = await this.transport.admin();
    const rf = app.options.replicationFactor;
    const specs: TopicSpec[] = [];
    const partitions = new Map<string, number>();
    const external = [...new Set([...app.functions.values()].filter((f) => f.external).map((f) => f.topic))];
    const routed = app.ingresses.filter((i) => !i.direct).map((i) => i.topic);
    const existing = new Set(await admin.listTopics());
    for (const topic of [...external, ...routed]) {
      if (!existing.has(topic)) {
        // Topics the principal may not describe are missing from the list too: the broker says which it is.
        await admin.describeTopics([topic]).catch((e: unknown) => {
          if (e instanceof AuthorizationError) throw e;
        });
        const i = app.ingresses.findIndex((ing) => ing.topic === topic);
        throw new ConfigError(
          `ingresses[${i}].topic`,
          `topic '${topic}' does not exist; create it before starting app '${app.name}'`,
        );
      }
    }
    // The ingress topics: a direct one gives its function's partition count, and a router's partitions are
    // watermark sources of its target (time/topology.ts).
    const ingress = [...new Set([...external, ...routed])];
    if (ingress.length > 0) {
      for (const d of await admin.describeTopics(ingress)) partitions.set(d.name, d.partitions);
    }
    const described = (topics: readonly string[]) => {
      for (const topic of topics)
        if (partitions.get(topic) === undefined)
          throw new InternalError(`the cluster did not describe topic '${topic}' of app '${app.name}'`);
    };
    described(ingress);
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
        specs.push({
          name: fn.topic,
          partitions: n!,
          config: PURGED_TOPIC_CONFIG,
          ...(rf ? { replicationFactor: rf } : {}),
        });
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
    for (const d of await admin.describeTopics(names)) {
      partitions.set(d.name, d.partitions);
      // An existing internal topic made before purging (or by hand) keeps its time retention: say what it risks.
      const purged = specs.find((x) => x.name === d.name)?.config === PURGED_TOPIC_CONFIG;
      const problem = purged ? retentionProblem(d.name, d.config) : undefined;
      if (problem !== undefined) this.logger.warn({ app: app.name, topic: d.name }, problem);
    }
    described(names);
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
   * map state's entries as an object. `app` is the app's name, or `<namespace>.<name>` (needed when apps of two
   * namespaces share the name). For tests and inspection.
   */
  async readState(app: string, fn: string, key: string | Buffer, stateName: string): Promise<unknown> {
    const id = this.idOf(app);
    if (id === undefined) return undefined;
    const def = this.resolved.find((a) => appId(a) === id)!;
    const resolved = def.functions.get(fn);
    const member = this.runners.get(id)?.find((r) => r.spec.name === fn);
    const spec = resolved?.states.find((s) => s.name === stateName);
    if (resolved === undefined || member === undefined || spec === undefined) return undefined;
    const partitions = this.partitionCounts.get(id)?.get(resolved.topic);
    if (partitions === undefined) return undefined;
    // `key` as the handler sees it (its bytes by the function's key serde), or the exact key bytes.
    const bytes = Buffer.isBuffer(key) ? key : resolved.keySerde.serialize(key);
    const layer = (await member.task(partitionFor(bytes, partitions)))?.stateLayer;
    if (layer === undefined) return undefined;
    const prefix = spacePrefix({ app: def.name, fn, slot: null });
    if (spec.kind !== 'map') return layer.store.getValue(storeHead(prefix, stateName), actorId(bytes));
    const entries = [...layer.store.entries(storeKey(prefix, stateName, actorId(bytes)))];
    return entries.length === 0 ? undefined : Object.fromEntries(entries);
  }

  /** Fires due timers now (the interval calls this; the test driver calls it after moving its clock). */
  async tick(): Promise<void> {
    this.dispatcher?.tick();
    // Every member at once: a long step in one does not hold the timers of the others.
    await Promise.all([...this.runners.values()].flatMap((runners) => runners.map((r) => r.tick())));
  }

  private async stopApp(id: string, error?: AppStoppedError): Promise<void> {
    const runners = this.runners.get(id);
    if (runners === undefined) return;
    const app = this.resolved.find((a) => appId(a) === id)!;
    this.runners.delete(id);
    this.leasing.forget(app.name);
    const s = this.stats.get(id);
    if (s) {
      s.status = error ? 'failed' : 'stopped';
      if (error) s.error = error.message;
    }
    await Promise.all(
      runners.map((r) => {
        this.assignments.forget(r.spec.group);
        const done = r
          .stop()
          .catch((e: unknown) => this.logger.warn({ err: e }, 'stopping a function failed'))
          .finally(() => this.stoppingMembers.delete(r));
        this.stoppingMembers.set(r, { id, done });
        return done;
      }),
    );
    this.logger.info(
      { app: app.name, namespace: app.options.namespace, failed: error !== undefined },
      'app stopped',
    );
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
    if (this.assignmentTimer) clearInterval(this.assignmentTimer);
    this.stopPhase = 'control channel';
    await this.control
      ?.stop()
      .catch((e: unknown) => this.logger.warn({ err: e }, 'stopping the control channel failed'));
    this.stopPhase = 'apps';
    await Promise.all([...this.runners.keys()].map((id) => this.stopApp(id)));
    // Apps that stopped earlier (failed) may still be leaving their groups.
    await Promise.all([...this.stoppingMembers.values()].map((m) => m.done));
    this.dispatcher?.close();
    this.watchdog.close();
    await this.metricsServer?.close();
    this.stopPhase = 'stores';
    for (const s of this.stores.values()) await s.close();
    this.stores.clear();
    this.stopPhase = 'producer';
    await this.sharedProducer?.disconnect().catch(() => {});
    await this.transport
      .closeAdmin()
      .catch((e: unknown) => this.logger.warn({ err: e }, 'closing the admin client failed'));
    this.stopPhase = 'done';
    this.lifecycle.to('stopped');
  }
}

/** Checks the numeric and address options (a ConfigError naming the field, before anything connects). */
function checkWorkerOptions(o: WorkerOptions): void {
  checkIntOption(o.tickIntervalMs, 'tickIntervalMs', 0, MAX_INT32);
  checkIntOption(o.purgeIntervalMs, 'purgeIntervalMs', 0, MAX_INT32);
  checkIntOption(o.sessionTimeoutMs, 'sessionTimeoutMs', 1, MAX_INT32);
  checkIntOption(o.heartbeatIntervalMs, 'heartbeatIntervalMs', 1, MAX_INT32);
  const session = o.sessionTimeoutMs ?? 10_000;
  const heartbeat = o.heartbeatIntervalMs ?? 1_000;
  if (heartbeat >= session) {
    throw new ConfigError(
      'sessionTimeoutMs',
      `${session} must be greater than heartbeatIntervalMs (${heartbeat}), or the group drops members between heartbeats; e.g. sessionTimeoutMs 10000 with heartbeatIntervalMs 1000`,
    );
  }
  checkIntOption(o.concurrency, 'concurrency', 1, 10_000);
  if (o.exactlyOnceV2 === true && o.transport.exactlyOnceV2 !== true) {
    throw new ConfigError(
      'exactlyOnceV2',
      `transport '${o.transport.name}' cannot commit offsets as a group member in a transaction (KIP-447); use a transport that can (both built-in ones do), or leave exactlyOnceV2 unset`,
    );
  }
  checkIntOption(o.metricsPort, 'metricsPort', 0, 65_535);
  if (o.metricsHost !== undefined) checkHost(o.metricsHost, 'metricsHost');
  checkIntOption(o.loadReportIntervalMs, 'loadReportIntervalMs', 0, MAX_INT32);
  checkIntOption(o.metricsLogIntervalMs, 'metricsLogIntervalMs', 0, MAX_INT32);
  checkIntOption(o.assignmentTimeoutMs, 'assignmentTimeoutMs', 0, MAX_INT32);
  if (o.controlTopic !== undefined) checkTopicName(o.controlTopic, 'controlTopic');
}
