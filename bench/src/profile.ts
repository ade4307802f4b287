// CPU profiles of benchmark scenarios (`--profile DIR`): the V8 sampling profiler of this process runs only
// while one scenario runs (not while the input is seeded), its profile is written as `<name>.cpuprofile` (open it
// in Chrome DevTools or speedscope), and a summary says where the time went: self time per area (the Kafka
// client, the transport, the runtime, serdes, garbage collection, idle) and the functions with the most self time.
// An allocation profile of the same span is written beside it (`<name>.heapprofile`, V8's sampling heap profiler
// with collected objects kept: what was allocated, not what survived), summarised as the functions that allocated
// the most bytes: what the garbage collector's share comes from.
// Profiling slows the process down: throughput figures of a profiled run are not comparable with others.
import { mkdirSync, writeFileSync } from 'node:fs';
import { Session } from 'node:inspector/promises';
import { join } from 'node:path';

interface CallFrame {
  readonly functionName: string;
  readonly url: string;
  readonly lineNumber: number;
}
interface ProfileNode {
  readonly id: number;
  readonly callFrame: CallFrame;
}
export interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

export interface ProfileSummary {
  /** Sampled time in ms. */
  readonly totalMs: number;
  /** Self time per area, as a share of the total, largest first. */
  readonly areas: Record<string, number>;
  /** The functions with the most self time: `name file:line` and share. */
  readonly top: readonly [string, number][];
}

/** The area a frame belongs to, from its script's path. */
export function areaOf(frame: CallFrame): string {
  const { url, functionName } = frame;
  if (url === '') {
    if (functionName === '(garbage collector)') return 'gc';
    if (functionName === '(idle)') return 'idle';
    return 'native';
  }
  if (url.includes('/node_modules/@platformatic/') || url.includes('/node_modules/kafkajs/')) return 'client';
  if (url.includes('/sdk/kafkajs/') || url.includes('/sdk/platformatic/')) return 'transport';
  if (url.includes('/sdk/core/src/serde')) return 'serde';
  if (url.includes('/sdk/runtime/') || url.includes('/sdk/core/')) return 'runtime';
  if (url.startsWith('node:')) return 'node';
  if (url.includes('/node_modules/')) return 'other packages';
  return 'bench';
}

/** A frame as the summaries name it: `function file:line`. */
const frameLabel = (frame: CallFrame): string =>
  `${frame.functionName || '(anonymous)'} ${frame.url.split('/').pop() ?? ''}:${frame.lineNumber + 1}`;

/** `name share%` pairs, joined. */
const percentages = (shares: Iterable<[string, number]>, separator: string): string =>
  [...shares].map(([k, v]) => `${k} ${(v * 100).toFixed(1)}%`).join(separator);

/** V8's sampling heap profile: a tree of allocation sites and the samples taken at them. */
export interface HeapProfile {
  readonly head: HeapNode;
  readonly samples: readonly { readonly size: number; readonly nodeId: number }[];
}
interface HeapNode {
  readonly id: number;
  readonly callFrame: CallFrame;
  readonly children: readonly HeapNode[];
}

/** The functions that allocated the most sampled bytes (self), with their share of all sampled bytes. */
export function summarizeAllocations(profile: HeapProfile, topN = 12): [string, number][] {
  const frames = new Map<number, CallFrame>();
  const stack: HeapNode[] = [profile.head];
  while (stack.length > 0) {
    const n = stack.pop()!;
    frames.set(n.id, n.callFrame);
    stack.push(...n.children);
  }
  const fns = new Map<string, number>();
  let total = 0;
  for (const { size, nodeId } of profile.samples) {
    const frame = frames.get(nodeId);
    if (frame === undefined) continue;
    total += size;
    const fn = frameLabel(frame);
    fns.set(fn, (fns.get(fn) ?? 0) + size);
  }
  return [...fns]
    .sort((a, b) => b[1] - a[1])
    .slice(0, topN)
    .map(([k, v]) => [k, total === 0 ? 0 : Number((v / total).toFixed(3))]);
}

/** Self time per area and per function of a profile. */
export function summarizeProfile(profile: CpuProfile, topN = 15): ProfileSummary {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  let total = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const id = profile.samples[i]!;
    self.set(id, (self.get(id) ?? 0) + dt);
    total += dt;
  }
  const areas = new Map<string, number>();
  const fns = new Map<string, number>();
  for (const [id, us] of self) {
    const frame = byId.get(id)?.callFrame;
    if (frame === undefined) continue;
    const area = areaOf(frame);
    areas.set(area, (areas.get(area) ?? 0) + us);
    const fn = frameLabel(frame);
    fns.set(fn, (fns.get(fn) ?? 0) + us);
  }
  const share = (us: number) => (total === 0 ? 0 : Number((us / total).toFixed(3)));
  return {
    totalMs: Math.round(total / 1000),
    areas: Object.fromEntries([...areas].sort((a, b) => b[1] - a[1]).map(([k, v]) => [k, share(v)])),
    top: [...fns]
      .sort((a, b) => b[1] - a[1])
      .slice(0, topN)
      .map(([k, v]) => [k, share(v)] as [string, number]),
  };
}

/**
 * Runs `run`, profiled into `dir/<name>.cpuprofile` when `dir` is given (else just runs it), and writes the
 * summary to stderr.
 */
export async function profiled<T>(dir: string | undefined, name: string, run: () => Promise<T>): Promise<T> {
  if (dir === undefined) return run();
  mkdirSync(dir, { recursive: true });
  const session = new Session();
  session.connect();
  await session.post('Profiler.enable');
  await session.post('Profiler.setSamplingInterval', { interval: 200 });
  await session.post('Profiler.start');
  await session.post('HeapProfiler.enable');
  await session.post('HeapProfiler.startSampling', {
    samplingInterval: 64 * 1024,
    includeObjectsCollectedByMajorGC: true,
    includeObjectsCollectedByMinorGC: true,
  });
  try {
    return await run();
  } finally {
    const { profile } = (await session.post('Profiler.stop')) as { profile: CpuProfile };
    const { profile: heap } = (await session.post('HeapProfiler.stopSampling')) as unknown as {
      profile: HeapProfile;
    };
    session.disconnect();
    const path = join(dir, `${name}.cpuprofile`);
    writeFileSync(path, JSON.stringify(profile));
    writeFileSync(join(dir, `${name}.heapprofile`), JSON.stringify(heap));
    const s = summarizeProfile(profile);
    process.stderr.write(
      `bench: profile ${name} (${s.totalMs} ms sampled, ${path}): ${percentages(Object.entries(s.areas), ', ')}\n` +
        `  top: ${percentages(s.top, '; ')}\n  allocated most: ${percentages(summarizeAllocations(heap), '; ')}\n`,
    );
  }
}
