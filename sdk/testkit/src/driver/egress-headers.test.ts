// Scheduling headers on egress records: left out by default (the records keep the headers they carry on), written
// with `schedulingHeaders: true` (end-to-end latency, deadlines kept by a Dirigo app downstream).
import { ConfigError, defineApp, fn } from '@dirigo/core';
import { afterEach, describe, expect, it } from 'vitest';
import { TestDriver } from './test-driver.ts';

const app = (schedulingHeaders?: boolean) =>
  defineApp({
    name: 'eh',
    ingresses: [{ topic: 'eh-in', to: 'f' }],
    egresses: {
      full: { topic: 'eh-full', schedulingHeaders: true },
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

  it('are left out by default and with schedulingHeaders: false, and written with true', async () => {
    for (const option of [undefined, false]) {
      driver = await TestDriver.start(app(option));
      await driver.pipe('eh-in', { key: 'k', value: 1, headers: { 'x-tenant': 'acme' } });
      const [lean] = await driver.output<number>('eh-lean');
      expect(names(lean!.headers)).toEqual(['x-tenant']);
      expect(lean!.value).toBe(1);
      await driver.stop();
    }
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
