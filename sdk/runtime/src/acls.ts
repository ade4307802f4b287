// The ACLs a worker's principal needs on a cluster that enforces them (Confluent Cloud, MSK, any cluster with an
// authorizer): what docs/operations.md ("ACLs") lists, and what integration-tests/src/security.test.ts grants,
// and nothing more, before it runs a two-hop app exactly once on a broker that refuses everything else.
import { type AppDefinition, type ResolvedApp, resolveApp } from '@dirigo/core';

/** Kafka's names of the ACL operations a worker needs. */
export type AclOperation = 'READ' | 'WRITE' | 'CREATE' | 'DELETE' | 'DESCRIBE_CONFIGS';

/** One ACL binding to allow, for the worker's principal, from any host. */
export interface AclBinding {
  readonly resourceType: 'TOPIC' | 'GROUP' | 'TRANSACTIONAL_ID';
  readonly patternType: 'LITERAL' | 'PREFIXED';
  readonly name: string;
  readonly operations: readonly AclOperation[];
  /** What the worker does with it. */
  readonly why: string;
}

export interface WorkerAclOptions {
  /** The worker's `controlTopic` (default `dirigo.control`). */
  readonly controlTopic?: string;
  /** The worker's transport: kafkajs also needs the throwaway groups it reads changelogs with. */
  readonly transport?: 'kafkajs' | 'platformatic';
}

/** The control topic's default name (`WorkerOptions.controlTopic`). */
const DEFAULT_CONTROL_TOPIC = 'dirigo.control';

/** Prefix of the kafkajs transport's throwaway groups (read-to-end.ts). */
export const KAFKAJS_READ_TO_END_GROUP_PREFIX = 'dirigo-read-to-end-';

/**
 * The ACLs (allow) a worker running `apps` needs: every internal topic, group and transactional id of an app
 * starts with `<namespace>.<app>.`, so prefixed ACLs cover them; the ingress and egress topics (and a dead-letter
 * topic outside that prefix) get literal ones, and the control topic and its per-worker groups their own.
 * Transactional ids only for exactly-once apps. READ, WRITE and DELETE imply DESCRIBE. Topic CREATE is needed only
 * where the worker creates the topic (internal topics, egresses): drop it where they are made beforehand.
 */
export function workerAcls(
  apps: readonly (AppDefinition | ResolvedApp)[],
  options: WorkerAclOptions = {},
): AclBinding[] {
  const control = options.controlTopic ?? DEFAULT_CONTROL_TOPIC;
  const acls: AclBinding[] = [];
  const literal = new Map<string, Set<AclOperation>>();
  const addLiteral = (topic: string, ops: readonly AclOperation[]) => {
    const set = literal.get(topic) ?? new Set<AclOperation>();
    for (const o of ops) set.add(o);
    literal.set(topic, set);
  };
  const prefixes: string[] = [];
  for (const given of apps) {
    const app = 'definition' in given ? given : resolveApp(given);
    const prefix = `${app.options.namespace}.${app.name}.`;
    prefixes.push(prefix);
    acls.push(
      {
        resourceType: 'TOPIC',
        patternType: 'PREFIXED',
        name: prefix,
        operations: ['READ', 'WRITE', 'CREATE', 'DELETE', 'DESCRIBE_CONFIGS'],
        why: 'internal topics (function inputs, changelogs, lease topics, dead letters): created, read, written, described, and their consumed records deleted (purge)',
      },
      {
        resourceType: 'GROUP',
        patternType: 'PREFIXED',
        name: prefix,
        operations: ['READ'],
        why: "the functions' consumer groups (offsets committed in transactions)",
      },
    );
    // An at-least-once app writes with the worker's idempotent producer: no transactional id.
    if (app.options.guarantee === 'exactly_once') {
      acls.push({
        resourceType: 'TRANSACTIONAL_ID',
        patternType: 'PREFIXED',
        name: prefix,
        operations: ['WRITE'],
        why: 'the transactional producers (<group>.<worker id>; under v2 also <group>.<partition>, registered to fence v1 workers)',
      });
    }
    const outside = (topic: string) => !topic.startsWith(prefix);
    for (const ingress of app.ingresses) {
      // A function reading its ingress directly has it as its input topic, where it also writes: timers it sets
      // and a leasable function's lease replies come back through its own input partition.
      if (!outside(ingress.topic)) continue;
      addLiteral(
        ingress.topic,
        ingress.direct ? ['READ', 'WRITE', 'DESCRIBE_CONFIGS'] : ['READ', 'DESCRIBE_CONFIGS'],
      );
    }
    for (const egress of app.egresses.values()) {
      if (outside(egress.topic)) addLiteral(egress.topic, ['WRITE', 'CREATE', 'DESCRIBE_CONFIGS']);
    }
    const dlq = app.options.deadLetterTopic;
    if (outside(dlq)) addLiteral(dlq, ['WRITE', 'CREATE', 'DESCRIBE_CONFIGS']);
  }
  for (const [topic, ops] of literal) {
    if (prefixes.some((p) => topic.startsWith(p))) continue;
    acls.push({
      resourceType: 'TOPIC',
      patternType: 'LITERAL',
      name: topic,
      operations: [...ops],
      why: ops.has('READ')
        ? ops.has('WRITE')
          ? "an ingress topic read directly by its function: read, described, and written (the function's timers and lease replies come back through its input partitions)"
          : 'an ingress topic (re-keyed by a router): read and described'
        : 'an output topic: created if missing, written, described',
    });
  }
  acls.push(
    {
      resourceType: 'TOPIC',
      patternType: 'LITERAL',
      name: control,
      operations: ['READ', 'WRITE', 'CREATE'],
      why: 'the control topic (load reports, leases, watermarks), shared by every worker',
    },
    {
      resourceType: 'GROUP',
      patternType: 'PREFIXED',
      name: `${control}.`,
      operations: ['READ'],
      why: "each worker's control-topic group (<control topic>.<worker id>)",
    },
  );
  if (options.transport === 'kafkajs') {
    acls.push({
      resourceType: 'GROUP',
      patternType: 'PREFIXED',
      name: KAFKAJS_READ_TO_END_GROUP_PREFIX,
      operations: ['READ', 'DELETE'],
      why: 'kafkajs only: the throwaway groups that read changelogs back when state is restored (deleted after)',
    });
  }
  return acls;
}

/** The `kafka-acls.sh` commands that create `acls` for `principal` (e.g. `User:orders-app`). */
export function kafkaAclsCommands(acls: readonly AclBinding[], principal: string): string[] {
  const flag = { TOPIC: '--topic', GROUP: '--group', TRANSACTIONAL_ID: '--transactional-id' } as const;
  const operation = (o: AclOperation) =>
    o === 'DESCRIBE_CONFIGS' ? 'DescribeConfigs' : o[0] + o.slice(1).toLowerCase();
  return acls.map(
    (a) =>
      `kafka-acls.sh --bootstrap-server "$BROKERS" --command-config admin.properties --add --allow-principal '${principal}' ` +
      `${a.operations.map((o) => `--operation ${operation(o)}`).join(' ')} --resource-pattern-type ${a.patternType.toLowerCase()} ${flag[a.resourceType]} '${a.name}'`,
  );
}
