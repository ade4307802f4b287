// The worker's watch over running async handlers: a handler still running after its app's `slowHandlerMs` is
// logged once and counted; one still running after `handlerTimeoutMs` is given up: its message fails with a
// HandlerTimeoutError (its writes rolled back, onError applies) and its key goes on, while whatever the
// abandoned handler does afterwards throws (its context is expired). One interval timer, only while handlers
// are being watched; handler time is wall time (performance.now), whatever clock the worker uses.
import { performance } from 'node:perf_hooks';
import type { Logger } from '@dirigo/core';
import { DirigoError } from '@dirigo/core';

/** A handler ran past its app's `handlerTimeoutMs`. */
export class HandlerTimeoutError extends DirigoError {
  constructor(ms: number) {
    super(
      `the handler did not finish within handlerTimeoutMs (${ms} ms); it was given up and its writes rolled back`,
    );
  }
}

/** One watched handler. */
export interface Watched {
  readonly start: number;
  readonly timeoutMs: number;
  readonly slowMs: number;
  readonly logger: Logger;
  /** Where, for the log line. */
  readonly where: () => Record<string, unknown>;
  warned: boolean;
  /** Called once when the handler is given up. */
  readonly expire: (error: HandlerTimeoutError) => void;
}

/** Counters of the watchdog (metrics). */
export interface WatchdogCounters {
  slow: number;
  timedOut: number;
}

export class HandlerWatchdog {
  readonly counters: WatchdogCounters = { slow: 0, timedOut: 0 };
  private readonly watched = new Set<Watched>();
  private timer: NodeJS.Timeout | undefined;
  private readonly intervalMs: number;

  constructor(intervalMs = 200) {
    this.intervalMs = intervalMs;
  }

  /** Watches a handler until `unwatch`. */
  watch(w: Omit<Watched, 'start' | 'warned'>): Watched {
    const entry: Watched = { ...w, start: performance.now(), warned: false };
    this.watched.add(entry);
    if (this.timer === undefined) {
      this.timer = setInterval(() => this.check(), this.intervalMs);
      this.timer.unref();
    }
    return entry;
  }

  unwatch(entry: Watched): void {
    this.watched.delete(entry);
    if (this.watched.size === 0 && this.timer !== undefined) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  }

  /** Handlers running now, with how long (for health views and tests). */
  running(): number {
    return this.watched.size;
  }

  private check(): void {
    const now = performance.now();
    for (const w of [...this.watched]) {
      const elapsed = now - w.start;
      if (!w.warned && elapsed >= w.slowMs) {
        w.warned = true;
        this.counters.slow++;
        w.logger.warn({ ...w.where(), ms: Math.round(elapsed) }, 'handler still running');
      }
      if (w.timeoutMs > 0 && elapsed >= w.timeoutMs) {
        this.unwatch(w);
        this.counters.timedOut++;
        w.expire(new HandlerTimeoutError(w.timeoutMs));
      }
    }
  }

  close(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    this.watched.clear();
  }
}
