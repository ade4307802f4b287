import { describe, expect, it } from 'vitest';
import { clockTicks, parseStat, processTicks, threadTicks, threadUse } from './proc-cpu.ts';

describe('proc-cpu', () => {
  it('reads the name up to the last parenthesis and adds user and system ticks', () => {
    // pid (comm) state ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime stime ...
    const line = '4242 (GC (Thread) #0) S 1 4242 4242 0 -1 4194560 100 0 0 0 37 5 0 0 20 0 1 0';
    expect(parseStat(line)).toEqual({ name: 'GC (Thread) #0', ticks: 42 });
    expect(() => parseStat('not a stat line')).toThrow(/not a \/proc stat line/);
  });

  it("splits a process's CPU by thread, busiest first, a thread born in between counting from zero", () => {
    const before = new Map([
      [1, { name: 'main', ticks: 100, waitNs: 1e9 }],
      [2, { name: 'sender', ticks: 50 }],
      [4, { name: 'io', ticks: 10 }],
    ]);
    const after = new Map([
      [1, { name: 'main', ticks: 100 + clockTicks(), waitNs: 1.5e9 }], // one second of CPU, half a second waiting
      [2, { name: 'sender', ticks: 50 }], // idle: left out
      [3, { name: 'gc', ticks: clockTicks() / 2, waitNs: 2e8 }], // born in between
      [4, { name: 'io', ticks: 10 + clockTicks() / 4, waitNs: 5e8 }], // no wait known before: none reported
    ]);
    expect(threadUse(before, after, 2)).toEqual([
      { name: 'main', cores: 0.5, waiting: 0.25 },
      { name: 'gc', cores: 0.25, waiting: 0.1 },
      { name: 'io', cores: 0.125 },
    ]);
  });

  it("reads this process's threads, and a busy loop shows in them and in the process total", () => {
    const p0 = processTicks(process.pid);
    const t0 = threadTicks(process.pid);
    expect(t0.size).toBeGreaterThan(0);
    const start = performance.now();
    let x = 0;
    while (performance.now() - start < 300) x += Math.sqrt(x + 1);
    expect(x).toBeGreaterThan(0);
    const seconds = (performance.now() - start) / 1000;
    const used = threadUse(t0, threadTicks(process.pid), seconds);
    const p1 = processTicks(process.pid);
    expect(p1).toBeGreaterThan(p0);
    expect(used.length).toBeGreaterThan(0);
    for (let i = 1; i < used.length; i++) expect(used[i - 1]!.cores).toBeGreaterThanOrEqual(used[i]!.cores);
    // The threads' ticks add up to the process's (less any ticks of threads that ended in between), give or take
    // rounding: the kernel scales each thread's utime and stime to whole ticks on its own, so each thread's
    // count can be up to a tick above its share of the process's (a CI run saw the sum exceed it).
    const threadSum = used.reduce((a, t) => a + t.cores, 0) * seconds * clockTicks();
    expect(threadSum).toBeGreaterThan(0);
    expect(threadSum).toBeLessThanOrEqual(p1 - p0 + 2 * used.length + 1e-6);
  });
});
