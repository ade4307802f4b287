// Names shared by the chaos apps (loaded in the worker processes) and the harness (which feeds and checks
// them): the shapes, app names, and the topics of a run, all derived from the run's namespace. The apps read
// their settings from the environment the harness gives the workers (CHAOS_*).
import type { ProcessingGuarantee } from '@dirigo/core';

export const SHAPES = ['one-hop', 'two-hop-timer', 'fan-out-in', 'windowed'] as const;
export type ShapeName = (typeof SHAPES)[number];

export const isShape = (s: string): s is ShapeName => (SHAPES as readonly string[]).includes(s);

/** Parses `a,b,c` into shape names; throws on an unknown one. Empty or missing: all shapes. */
export function parseShapes(list: string | undefined): ShapeName[] {
  if (list === undefined || list.trim() === '') return [...SHAPES];
  const out: ShapeName[] = [];
  for (const s of list.split(',').map((x) => x.trim())) {
    if (!isShape(s)) throw new Error(`unknown shape '${s}'; use some of ${SHAPES.join(', ')}`);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

/** App names (the middle part of every function topic and group: `<ns>.<app>.<fn>`). */
export const APP = {
  'one-hop': 'counter',
  'two-hop-timer': 'auctions',
  'fan-out-in': 'fan',
  windowed: 'windows',
} as const;

/** Topics of a run, by namespace. Ingress topics are created by the harness; the others by the workers. */
export const topics = (ns: string) => ({
  control: `${ns}.control`,
  counterIn: `${ns}.counter-in`,
  counterOut: `${ns}.counter-out`,
  bids: `${ns}.bids`,
  bidderTotals: `${ns}.bidder-totals`,
  closes: `${ns}.closes`,
  fanIn: `${ns}.fan-in`,
  complete: `${ns}.complete`,
  winEvents: `${ns}.win-events`,
  winResults: `${ns}.win-results`,
});

/** A function's consumer group (also its internal topic's name when it has no direct ingress). */
export const groupOf = (ns: string, app: string, fn: string): string => `${ns}.${app}.${fn}`;
export const changelogOf = (ns: string, app: string, fn: string): string => `${ns}.${app}.${fn}.changelog`;

/** The settings an app reads from the worker's environment. */
export interface ShapeEnv {
  readonly ns: string;
  readonly guarantee: ProcessingGuarantee;
  readonly partitions: number;
}

export function shapeEnv(env: NodeJS.ProcessEnv): ShapeEnv {
  const guarantee = env.CHAOS_GUARANTEE ?? 'exactly_once';
  if (guarantee !== 'exactly_once' && guarantee !== 'at_least_once') {
    throw new Error(`CHAOS_GUARANTEE: '${guarantee}' is not exactly_once or at_least_once`);
  }
  return { ns: env.CHAOS_NS ?? 'chaos', guarantee, partitions: Number(env.CHAOS_PARTITIONS ?? '6') };
}

/** The options every chaos app uses. */
export const appOptions = (e: ShapeEnv) => ({
  namespace: e.ns,
  guarantee: e.guarantee,
  latencyTargetMs: 5000,
  defaultPartitions: e.partitions,
});

// Key spaces of the shapes (the harness draws keys from them; the apps derive internal keys from seqs).
export const COUNTER_KEYS = 1000;
export const AUCTIONS = 200;
export const HOT_AUCTION_SHARE = 0.2;
export const BIDDERS = 500;
export const FAN = { K: 64, P: 97, J: 50, maxParts: 3 } as const;
/** The `windowed` shape: keys, tumbling window size and event-time step per seq (ms). */
export const WIN = { keys: 40, sizeMs: 2_000, msPerSeq: 4 } as const;

/** The close delay of an auction (ms): 1500-2999, fixed per auction so a replay schedules the same close. */
export function closeDelayMs(auction: string): number {
  let h = 0;
  for (let i = 0; i < auction.length; i++) h = (Math.imul(h, 31) + auction.charCodeAt(i)) >>> 0;
  return 1500 + (h % 1500);
}
