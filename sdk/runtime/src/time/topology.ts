// Where watermarks flow in an app using event time: along the `sends` edges of its functions, and from each
// re-keying ingress router to its target. A partition's watermark is the lowest of its sources' that are not
// idle (every partition of every function that declares it sends here, every partition of a router targeting
// it, and, for a function that reads an ingress topic directly, that ingress partition itself; see
// watermarks.ts); a partition sends its own watermark to every partition of every function it sends to.
// Self-sends are not edges: a function's own messages (timers, sends to itself) never hold its watermark back
// (a timer it fired to itself only holds the watermark it sends on until it ran, see watermarks.ts).
import type { ResolvedApp, TopicPartition } from '@dirigo/core';
import { InternalError } from '../errors.ts';

/** The router of ingress `topic` is named like a function: `ingress-<topic>` (see routerFunction). */
export const routerName = (topic: string): string => `ingress-${topic}`;

/** The source id of partition `partition` of function (or router) `fn`. */
export const sourceId = (fn: string, partition: number): string => `${fn}/${partition}`;

export interface TimeTopology {
  /** The source ids that can send to function `fn`. */
  sourcesOf(fn: string): string[];
  /** Every partition a partition of function (or router) `fn` sends its watermark to. */
  targetsOf(fn: string): TopicPartition[];
}

/**
 * The topology of `app`; `partitions` holds the partition count of every topic of the app (function topics and
 * the ingress topics of routers). A missing one is an InternalError (thrown when asked about it).
 */
export function timeTopology(app: ResolvedApp, partitions: ReadonlyMap<string, number>): TimeTopology {
  const count = (topic: string): number => {
    const n = partitions.get(topic);
    if (n === undefined) throw new InternalError(`partition count of '${topic}' unknown`);
    return n;
  };
  /** Sender name -> the functions it sends to (not itself). */
  const edges = new Map<string, string[]>();
  const topics = new Map<string, string>();
  for (const fn of app.functions.values()) {
    edges.set(
      fn.name,
      (fn.sends ?? []).filter((t) => t !== fn.name),
    );
    topics.set(fn.name, fn.topic);
  }
  for (const ing of app.ingresses) {
    if (ing.direct) continue;
    edges.set(routerName(ing.topic), [ing.to]);
    topics.set(routerName(ing.topic), ing.topic);
  }
  return {
    sourcesOf(fn) {
      const out: string[] = [];
      for (const [sender, targets] of edges) {
        if (!targets.includes(fn)) continue;
        const n = count(topics.get(sender)!);
        for (let p = 0; p < n; p++) out.push(sourceId(sender, p));
      }
      return out.sort();
    },
    targetsOf(fn) {
      const out: TopicPartition[] = [];
      for (const target of edges.get(fn) ?? []) {
        const topic = app.functions.get(target)!.topic;
        for (let p = 0; p < count(topic); p++) out.push({ topic, partition: p });
      }
      return out;
    },
  };
}
