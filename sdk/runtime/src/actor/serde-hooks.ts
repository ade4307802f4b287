// The optional asynchronous hooks of serdes (`Serde.open`, `Serde.prepare`; see @dirigo/core serde.ts), run
// outside the record path so that decoding and encoding stay synchronous: `openSerdes` once when a worker
// starts, `prepareStep` before a step's records reach the step runner. Apps whose serdes have no hooks (JSON and
// the other built-ins) never allocate or wait here.
import type { IncomingRecord, ResolvedApp, Serde } from '@dirigo/core';

/** Every distinct serde of an app: messages, keys, states, ingresses and egresses. */
export function appSerdes(app: ResolvedApp): Serde<unknown>[] {
  const all = new Set<Serde<unknown>>();
  for (const fn of app.functions.values()) {
    all.add(fn.serde);
    all.add(fn.keySerde as Serde<unknown>);
    for (const s of fn.states) all.add(s.serde);
  }
  for (const ing of app.ingresses) {
    all.add(ing.serde);
    all.add(ing.keySerde as Serde<unknown>);
  }
  for (const eg of app.egresses.values()) {
    all.add(eg.serde);
    if (eg.keySerde !== undefined) all.add(eg.keySerde as Serde<unknown>);
  }
  return [...all];
}

/** Runs `open()` of every serde of the apps that has one (registers or looks up schemas). */
export async function openSerdes(apps: readonly ResolvedApp[]): Promise<void> {
  const serdes = new Set(apps.flatMap(appSerdes));
  await Promise.all([...serdes].map((s) => s.open?.()));
}

/** True when a step of a function with these serdes must call `prepareStep` first. */
export const needsPrepare = (...serdes: readonly Serde<unknown>[]): boolean =>
  serdes.some((s) => s.prepare !== undefined);

/**
 * Lets the value and key serdes fetch what decoding the records needs (e.g. writer schemas by id). Undefined
 * when nothing has to be waited for; otherwise a promise that settles when everything is fetched (a rejection
 * fails the step, which is then retried).
 */
export function prepareStep(
  records: readonly IncomingRecord[],
  value: Serde<unknown>,
  key: Serde<unknown>,
): Promise<void> | undefined {
  const waits = new Set<Promise<void>>();
  const vp = value.prepare?.bind(value);
  const kp = key.prepare?.bind(key);
  for (let i = 0; i < records.length; i++) {
    const r = records[i]!;
    const a = vp !== undefined && r.value !== null ? vp(r.value) : undefined;
    if (a !== undefined) waits.add(a);
    const b = kp !== undefined && r.key !== null ? kp(r.key) : undefined;
    if (b !== undefined) waits.add(b);
  }
  return waits.size === 0 ? undefined : Promise.all(waits).then(() => undefined);
}
