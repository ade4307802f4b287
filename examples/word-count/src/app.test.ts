import { TestDriver } from '@dirigo/testkit';
import { afterEach, describe, expect, it } from 'vitest';
import app, { COUNTS_TOPIC, LINES_TOPIC, type WordCount } from './app.ts';

describe('word-count on the test driver', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('counts words across lines and keeps the running total per word', async () => {
    driver = await TestDriver.start(app);
    await driver.pipe(LINES_TOPIC, [{ value: 'the quick brown fox' }, { value: 'The lazy dog, the end' }]);
    const latest = await driver.latest<WordCount>(COUNTS_TOPIC);
    expect(Object.fromEntries([...latest].map(([k, v]) => [k, v.count]))).toEqual({
      the: 3,
      quick: 1,
      brown: 1,
      fox: 1,
      lazy: 1,
      dog: 1,
      end: 1,
    });
    expect(await driver.state('word-count', 'count', 'the', 'total')).toBe(3);
    // One update per occurrence, in order, for a key.
    const theUpdates = (await driver.output<WordCount>(COUNTS_TOPIC))
      .filter((r) => r.key === 'the')
      .map((r) => r.value.count);
    expect(theUpdates).toEqual([1, 2, 3]);
  });

  it('carries the ingest time and deadline of the line onto every count', async () => {
    driver = await TestDriver.start(app);
    const t0 = driver.clock.now();
    await driver.pipe(LINES_TOPIC, { value: 'hello', timestamp: t0 });
    const [out] = await driver.output<WordCount>(COUNTS_TOPIC);
    expect(out?.headers['dirigo-ingest']?.toString()).toBe(String(t0));
    expect(out?.headers['dirigo-deadline']?.toString()).toBe(String(t0 + 500));
  });

  it('gives the same result with three workers sharing the partitions', async () => {
    driver = await TestDriver.start(app, { workers: 3 });
    const lines = Array.from({ length: 200 }, (_, i) => ({ value: `w${i % 7} w${i % 3} common` }));
    await driver.pipe(LINES_TOPIC, lines);
    const latest = await driver.latest<WordCount>(COUNTS_TOPIC);
    expect(latest.get('common')?.count).toBe(200);
    expect(latest.get('w0')?.count).toBe(Math.ceil(200 / 7) + Math.ceil(200 / 3));
  });
});
