// NEXMark Q8, new users: persons who created an auction in the same window as they joined.
//
// Semantics. Windows are tumbling, `windowMs` long, epoch-aligned, over event time (`dateTime`). A person whose
// `dateTime` (joining) is in window W and who is the seller of at least one auction whose `dateTime` is in the
// same W gives one result `{ id, name, start, end, auctions }`, `auctions` being how many auctions they created
// in W (Beam's Q8 emits one row per such auction, with its reserve; this one emits one per person and window).
// Emitted to the results topic, keyed by the person id, once per (person, window), when the watermark passes
// end + graceMs.
//
// Pipeline: a windowed join keyed by person. Two re-keying ingresses send the persons (keyed by person id) and
// the auctions (keyed by seller) to `join`; `join` is a `windowed` whose value per (person, window) is
// `newUser`: the person's name (once they joined) and the number of auctions they created; its close emits the
// pairs with both sides.
import { defineApp, type Mergeable, merge } from '@dirigo/core';
import { tumbling, windowed } from '@dirigo/windows';
import type { Auction, Person } from '../model.ts';
import { dateTimeOf, type QueryOptions, resolveQueryOptions } from './common.ts';

/** A result of Q8. */
export interface NewUserResult {
  readonly id: number;
  readonly name: string;
  readonly start: number;
  readonly end: number;
  /** Auctions the person created in the window. */
  readonly auctions: number;
}

/** What `join` receives: a person joining, or an auction created by person `seller` (as read from the topics). */
export type JoinMessage = Person | Auction;

const isAuction = (m: JoinMessage): m is Auction => 'seller' in m;

/** One (person, window) of the join. */
export interface NewUser {
  /** The person's name once they joined in the window, else null. */
  readonly name: string | null;
  readonly auctions: number;
}

/** Name (the smaller one if two ever meet) and the auctions summed; identity `{ name: null, auctions: 0 }`. */
export const newUser: Mergeable<NewUser> = merge.custom<NewUser>(
  'newUser',
  () => ({ name: null, auctions: 0 }),
  (a, b) => ({
    name: a.name === null ? b.name : b.name === null ? a.name : [a.name, b.name].sort()[0]!,
    auctions: a.auctions + b.auctions,
  }),
);

/** Q8 as an app: the persons and auctions re-keyed by person onto function `join`, egress `results`. */
export function q8App(options: QueryOptions = {}) {
  const o = resolveQueryOptions('nexmark-q8', options);
  return defineApp({
    name: o.name,
    options: o.app,
    ingresses: [
      { topic: o.topics.persons, to: 'join', key: (p: Person) => String(p.id) },
      { topic: o.topics.auctions, to: 'join', key: (a: Auction) => String(a.seller) },
    ],
    egresses: { results: { topic: o.topics.results } },
    functions: {
      join: windowed({
        window: tumbling({ sizeMs: o.windowMs, graceMs: o.graceMs }),
        merge: newUser,
        eventTime: dateTimeOf,
        value: (m: JoinMessage): NewUser =>
          isAuction(m) ? { name: null, auctions: 1 } : { name: m.name, auctions: 0 },
        onClose(ctx, w) {
          if (w.value.name === null || w.value.auctions === 0) return;
          ctx.emit('results', ctx.key, {
            id: Number(ctx.key),
            name: w.value.name,
            start: w.start,
            end: w.end,
            auctions: w.value.auctions,
          } satisfies NewUserResult);
        },
      }),
    },
  });
}
