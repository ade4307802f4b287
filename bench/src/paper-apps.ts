// The apps of the paper benchmark, shared by the driver (names, topics, targets) and the worker processes (the
// definitions): four NEXMark queries of examples/nexmark built with their factories' public options, all reading
// the same generated persons, auctions and bids, co-located on one pool of workers.
//
// - `hb`: highest bid per window keyed by auction (the Dirigo paper's source -> aggregate -> reduce), latency-
//   critical;
// - `q7`: NEXMark Q7 (every bid re-keyed to one key, the hottest there is: `highest`), latency-critical;
// - `q5`: NEXMark Q5 hot items (hopping counts per auction -> top), best effort;
// - `q8`: NEXMark Q8 new users (windowed join of persons and auctions by person), best effort.
//
// Each app has a result target: a result is on time when it is written before its window's end + the target
// (the paper's deadline). The dispatcher schedules by per-message deadlines (ingest + the app's
// latencyTargetMs); a message must be handled before its window closes, which is the close delay of the app
// (grace, and for two-stage queries the second stage's grace) before the result's deadline, and the close, the
// hops and their commits take time after it, so the app's latencyTargetMs is half of the result target minus
// that close delay.
//
// Work per event. The NEXMark handlers cost a few microseconds, which on this 2-core machine would make the
// broker, not the workers, the bottleneck. Each heavy function (the first stage of hb and q5, and q7's `highest`)
// gets an added cost per message (`costMs`, per app): a busy wait of fixed WALL-CLOCK time (the same `burn` as the other
// benches). So a worker process is a server of fixed capacity (one event loop: at most 1000 ms of handler time
// per second) whatever share of the 2 cores the OS gives it, which is what makes "worker processes sized for the
// peak" measurable on a machine shared with the broker and other jobs. The CPU the processes really used is
// measured separately (/proc).
import type { AppDefinition, FunctionDefinition, LeasingOptions } from '@dirigo/core';
import { highestBidApp, hotItemsApp, q7App, q8App } from '@dirigo/example-nexmark';
import { isWindowClose } from '@dirigo/windows';

export type PaperAppName = 'hb' | 'q7' | 'q5' | 'q8';
export const PAPER_APPS: readonly PaperAppName[] = ['hb', 'q7', 'q5', 'q8'];

/** What a worker process needs to build the apps; passed to it as JSON. */
export interface PaperAppsConfig {
  /** Namespace prefix, fresh per run. */
  readonly namespace: string;
  /** Partitions of the input topics and of every function. */
  readonly partitions: number;
  readonly windowMs: number;
  readonly graceMs: number;
  /** Period of Q5's hopping windows. */
  readonly slideMs: number;
  /** Per app: result target (ms after the window end) and whether it is latency-critical. */
  readonly targets: Readonly<Record<PaperAppName, number>>;
  readonly critical: readonly PaperAppName[];
  /** Added wall-clock cost per message of each app's heavy function (`HEAVY_FN`), ms. */
  readonly costMs: Readonly<Record<PaperAppName, number>>;
  readonly leasing: LeasingOptions;
  readonly eventTime: {
    readonly maxOutOfOrdernessMs: number;
    readonly idleTimeoutMs: number;
    readonly watermarkIntervalMs: number;
  };
}

/** The topics of one app: its own copy of the inputs it reads, and its results. */
export interface PaperAppTopics {
  readonly persons: string;
  readonly auctions: string;
  readonly bids: string;
  readonly results: string;
}

export interface PaperTopics {
  readonly control: string;
  readonly apps: Readonly<Record<PaperAppName, PaperAppTopics>>;
}

/** The inputs each app reads (the writer writes each event to the copy of every app that reads its kind). */
export const PAPER_INPUTS: Readonly<Record<PaperAppName, readonly ('persons' | 'auctions' | 'bids')[]>> = {
  hb: ['bids'],
  q7: ['bids'],
  q5: ['bids'],
  q8: ['persons', 'auctions'],
};

/**
 * Every app reads its own copy of the input topics, as separate deployments of the queries would: the windowed
 * functions read their ingress directly, so their close timers (sends to themselves) are written into that
 * topic (a direct ingress is its function's input topic, see the guide's Ingresses section), and another app
 * reading the same topic would get them as input.
 */
export function paperTopics(namespace: string): PaperTopics {
  const app = (name: PaperAppName): PaperAppTopics => ({
    persons: `${namespace}-${name}-persons`,
    auctions: `${namespace}-${name}-auctions`,
    bids: `${namespace}-${name}-bids`,
    results: `${namespace}-${name}-results`,
  });
  return {
    control: `${namespace}.control`,
    apps: { hb: app('hb'), q7: app('q7'), q5: app('q5'), q8: app('q8') },
  };
}

/** The function of each app that carries the added cost (and whose hot keys get leased). */
export const HEAVY_FN: Readonly<Record<PaperAppName, string | undefined>> = {
  hb: 'aggregate',
  q7: 'highest',
  q5: 'count',
  q8: undefined,
};

/** Event time after a window's end before its result can exist at all (the window's close), per app. */
export function closeDelayMs(c: Pick<PaperAppsConfig, 'graceMs'>) {
  // Every stage of every query closes its windows at end + graceMs (the two-stage queries give both stages
  // the same grace).
  return {
    hb: c.graceMs,
    q7: c.graceMs,
    q5: c.graceMs,
    q8: c.graceMs,
  } satisfies Record<PaperAppName, number>;
}

/**
 * The dispatcher's per-message target of each app: half of what its result target leaves after the close delay
 * (the other half is for what follows the message: the close, the hops, their commits); at least 100 ms.
 */
export function messageTargetMs(c: PaperAppsConfig, app: PaperAppName): number {
  return Math.max(100, Math.round((c.targets[app] - closeDelayMs(c)[app]) / 2));
}

/** Burns `ms` of wall-clock time in a busy loop: the handler's added work. */
export function burn(ms: number): void {
  if (ms <= 0) return;
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

/**
 * The app with `costMs` of busy wait added before every ordinary message of function `fnName` (window closes,
 * which the windows library sends to the same function, run at their own cost). The query itself is untouched:
 * its handler runs as defined.
 */
export function withCost(app: AppDefinition, fnName: string, costMs: number): AppDefinition {
  const f = app.functions[fnName];
  if (f === undefined) throw new Error(`${app.name} has no function ${fnName}`);
  if (costMs <= 0) return app;
  const inner = f.handler.bind(f);
  const costly: FunctionDefinition = {
    ...f,
    handler(ctx, m) {
      if (!isWindowClose(m)) burn(costMs);
      return inner(ctx, m);
    },
  };
  return { ...app, functions: { ...app.functions, [fnName]: costly } };
}

/** The four apps, as every worker of the pool hosts them. */
export function paperApps(c: PaperAppsConfig): AppDefinition[] {
  const t = paperTopics(c.namespace);
  const common = (app: PaperAppName) => ({
    name: app,
    namespace: c.namespace,
    windowMs: c.windowMs,
    graceMs: c.graceMs,
    eventTime: c.eventTime,
    leasing: c.leasing,
    latencyTargetMs: messageTargetMs(c, app),
    topics: t.apps[app],
  });
  const apps: Record<PaperAppName, AppDefinition> = {
    hb: highestBidApp(common('hb')),
    q7: q7App(common('q7')),
    q5: hotItemsApp({ ...common('q5'), slideMs: c.slideMs }),
    q8: q8App(common('q8')),
  };
  return PAPER_APPS.map((name) => {
    const heavy = HEAVY_FN[name];
    const app = apps[name];
    const withPartitions: AppDefinition = {
      ...app,
      options: { ...app.options, defaultPartitions: c.partitions },
    };
    return heavy === undefined ? withPartitions : withCost(withPartitions, heavy, c.costMs[name]);
  });
}
