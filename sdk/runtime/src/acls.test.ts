// workerAcls: what `dirigo acls` prints; integration-tests/src/security.test.ts grants exactly this list to a
// principal on a broker that refuses everything else and runs an app with it.
import { defineApp, fn } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import { kafkaAclsCommands, workerAcls } from './acls.ts';

const app = (o: { deadLetterTopic?: string } = {}) =>
  defineApp({
    name: 'orders',
    options: { namespace: 'shop', ...o },
    ingresses: [{ topic: 'orders-in', to: 'a' }],
    egresses: { out: { topic: 'orders-out' }, internal: { topic: 'shop.orders.copy' } },
    functions: {
      a: fn({ handler: (ctx, m: unknown) => ctx.send('b', ctx.key, m) }),
      b: fn({ handler: (ctx, m: unknown) => ctx.emit('out', ctx.key, m) }),
    },
  });

describe('workerAcls', () => {
  it("covers an app's internal resources by prefix and its ingress, egress and control topics literally", () => {
    const acls = workerAcls([app()]);
    const line = (a: (typeof acls)[number]) =>
      `${a.resourceType} ${a.patternType} ${a.name} ${a.operations.join(',')}`;
    expect(acls.map(line)).toEqual([
      'TOPIC PREFIXED shop.orders. READ,WRITE,CREATE,DELETE,DESCRIBE_CONFIGS',
      'GROUP PREFIXED shop.orders. READ',
      'TRANSACTIONAL_ID PREFIXED shop.orders. WRITE',
      // Read directly by its function: its timers and lease replies are written there too.
      'TOPIC LITERAL orders-in READ,WRITE,DESCRIBE_CONFIGS',
      // An egress under the prefix needs nothing more; the dead-letter topic is under it by default.
      'TOPIC LITERAL orders-out WRITE,CREATE,DESCRIBE_CONFIGS',
      'TOPIC LITERAL dirigo.control READ,WRITE,CREATE',
      'GROUP PREFIXED dirigo.control. READ',
    ]);
  });

  it('adds a dead-letter topic outside the prefix, a control topic of its own, and the kafkajs groups', () => {
    const acls = workerAcls([app({ deadLetterTopic: 'dead-letters' })], {
      controlTopic: 'ctl',
      transport: 'kafkajs',
    });
    const names = acls.map((a) => `${a.resourceType} ${a.name}`);
    expect(names).toContain('TOPIC dead-letters');
    expect(names).toContain('TOPIC ctl');
    expect(names).toContain('GROUP ctl.');
    expect(names).not.toContain('TOPIC dirigo.control');
    expect(acls.at(-1)).toMatchObject({
      resourceType: 'GROUP',
      name: 'dirigo-read-to-end-',
      operations: ['READ', 'DELETE'],
    });
  });

  it('a re-keyed ingress is only read (its router writes to the function topic, under the prefix)', () => {
    const routed = defineApp({
      name: 'r',
      options: { namespace: 'shop' },
      ingresses: [{ topic: 'raw', to: 'a', key: (v: { id: string }) => v.id }],
      functions: { a: fn({ handler: () => {} }) },
    });
    expect(workerAcls([routed]).find((a) => a.name === 'raw')?.operations).toEqual([
      'READ',
      'DESCRIBE_CONFIGS',
    ]);
  });

  it('lists no transactional ids for an at-least-once app (it writes with the idempotent producer)', () => {
    const alo = defineApp({
      name: 'orders',
      options: { namespace: 'shop', guarantee: 'at_least_once' },
      ingresses: [{ topic: 'orders-in', to: 'a' }],
      functions: { a: fn({ handler: () => {} }) },
    });
    expect(workerAcls([alo]).map((a) => a.resourceType)).not.toContain('TRANSACTIONAL_ID');
    expect(workerAcls([alo, app()]).filter((a) => a.resourceType === 'TRANSACTIONAL_ID')).toHaveLength(1);
  });

  it('prints kafka-acls.sh commands with the tool’s names of operations and patterns', () => {
    const [topics, , txn] = kafkaAclsCommands(workerAcls([app()]), 'User:shop');
    expect(topics).toContain(
      "--allow-principal 'User:shop' --operation Read --operation Write --operation Create --operation Delete --operation DescribeConfigs --resource-pattern-type prefixed --topic 'shop.orders.'",
    );
    expect(txn).toContain(
      "--operation Write --resource-pattern-type prefixed --transactional-id 'shop.orders.'",
    );
  });
});
