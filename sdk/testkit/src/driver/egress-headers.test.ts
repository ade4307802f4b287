// Scheduling headers on egress records: written by default (end-to-end latency, deadlines kept by a Dirigo app
// downstream), left out with `schedulingHeaders: false`, which keeps the headers the records carry on.
import { ConfigError, defineApp, fn } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDriver } from './test-driver.ts';

const app = (schedulingHeaders?: boolean) =>
  defineApp({
    name: 'eh',
    ingresses: [{ topic: 'eh-in', to: 'f' }],
    egresses: {
      full: { topic: 'eh-full' },
      lean: { topic: 'eh-lean', ...(schedulingHeaders === undefined ? {} : { schedulingHeaders }) },
    },
    functions: {
      f: fn({
        handler(ctx, m: number) {
          ctx.emit('full', ctx.key, m);
          ctx.emit('lean', ctx.key, m);
        },
      }),
    },
  });

const names = (h: Record<string, Buffer>) => Object.keys(h).sort();

describe('scheduling headers on egress records', () => {
  let driver: TestDriver | undefined;
  afterEach(async () => {
    await driver?.stop();
    driver = undefined;
  });

  it('are written by default, and left out of an egress with schedulingHeaders: false', async () => {
    driver = await TestDriver.start(app(false));
    await driver.pipe('eh-in', { key: 'k', value: 1, headers: { 'x-tenant': 'acme' } });
    const [full] = await driver.output<number>('eh-full');
    const [lean] = await driver.output<number>('eh-lean');
    expect(names(full!.headers)).toEqual(['dirigo-deadline', 'dirigo-ingest', 'dirigo-priority', 'x-tenant']);
    expect(names(lean!.headers)).toEqual(['x-tenant']);
    expect(lean!.value).toBe(1);
  });

  it('are written when the option is true, and the option must be a boolean', async () => {
    driver = await TestDriver.start(app(true));
    await driver.pipe('eh-in', { key: 'k', value: 2 });
    const [lean] = await driver.output<number>('eh-lean');
    expect(names(lean!.headers)).toEqual(['dirigo-deadline', 'dirigo-ingest', 'dirigo-priority']);
    await expect(TestDriver.start(app('no' as unknown as boolean))).rejects.toThrow(ConfigError);
    await expect(TestDriver.start(app('no' as unknown as boolean))).rejects.toThrow(
      'egresses.lean.schedulingHeaders',
    );
  });
});
