// Asking a cluster about itself with kafkajs (readiness means metadata listing every node, not an open port),
// and checking that ports are free before a start.
import { createServer } from 'node:net';
import { HOST, type NodeCount, nodePorts } from './config.ts';
import { sleep } from './tools.ts';

export interface BrokerInfo {
  readonly nodeId: number;
  readonly host: string;
  readonly port: number;
}

/** One metadata request through `brokers` (kafkajs admin.describeCluster); throws when nobody answers. */
export async function describeCluster(
  brokers: readonly string[],
  timeoutMs = 3000,
): Promise<{ brokers: BrokerInfo[]; clusterId: string }> {
  // Loaded on first use, not at import: @dirigo/kafkajs must be able to fix kafkajs before it loads.
  const { Kafka, logLevel } = (await import('kafkajs')).default;
  const kafka = new Kafka({
    clientId: 'dirigo-local-kafka-probe',
    brokers: [...brokers],
    logLevel: logLevel.NOTHING,
    connectionTimeout: Math.min(timeoutMs, 1000),
    requestTimeout: timeoutMs,
    retry: { retries: 0 },
  });
  const admin = kafka.admin({ retry: { retries: 0 } });
  let timer: NodeJS.Timeout | undefined;
  try {
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`no metadata from ${brokers.join(',')} in ${timeoutMs} ms`)),
        timeoutMs,
      );
    });
    const result = await Promise.race([
      (async () => {
        await admin.connect();
        return admin.describeCluster();
      })(),
      timeout,
    ]);
    return {
      clusterId: result.clusterId,
      brokers: result.brokers.map((b) => ({ nodeId: b.nodeId, host: b.host, port: b.port })),
    };
  } finally {
    clearTimeout(timer);
    await admin.disconnect().catch(() => undefined);
  }
}

/** Whether a Kafka broker answers at host:port within `timeoutMs`. */
export async function answersKafka(hostPort: string, timeoutMs = 2000): Promise<boolean> {
  try {
    await describeCluster([hostPort], timeoutMs);
    return true;
  } catch {
    return false;
  }
}

export interface WaitReadyOptions {
  /** Node id to bootstrap address; each one must answer with metadata that lists every id. */
  readonly nodes: ReadonlyMap<number, string>;
  readonly timeoutMs: number;
  /** Called between attempts; throw from it to give up early (e.g. a broker process died). */
  readonly check?: () => void;
}

/**
 * Asks each address for metadata, in order, every 250 ms until `unmet` finds nothing to say about any answer
 * (it returns why an answer does not do yet, or undefined). An address that does not answer does not do either
 * (named by `name` in the reason).
 * Throws `timeoutText` and the last reason once `timeoutMs` has passed. Returns the milliseconds waited.
 */
async function pollMetadata(
  addresses: readonly string[],
  unmet: (address: string, answer: { brokers: BrokerInfo[] }) => string | undefined,
  timeoutMs: number,
  timeoutText: string,
  check?: () => void,
  name: (address: string) => string = (address) => address,
): Promise<number> {
  const began = Date.now();
  let last = 'no answer yet';
  for (;;) {
    check?.();
    let reason: string | undefined;
    for (const address of addresses) {
      try {
        reason = unmet(address, await describeCluster([address], 3000));
      } catch (e) {
        reason = `${name(address)}: ${(e as Error).message}`;
      }
      if (reason !== undefined) break;
    }
    if (reason === undefined) return Date.now() - began;
    last = reason;
    if (Date.now() - began >= timeoutMs) throw new Error(`${timeoutText}: ${last}`);
    await sleep(250);
  }
}

/** Waits until every node answers a metadata request that lists all of `nodes`. */
export async function waitReady(opts: WaitReadyOptions): Promise<void> {
  const want = [...opts.nodes.keys()].sort((a, b) => a - b);
  const idOf = new Map([...opts.nodes].map(([id, address]) => [address, id]));
  await pollMetadata(
    [...opts.nodes.values()],
    (address, c) => {
      const seen = new Set(c.brokers.map((b) => b.nodeId));
      const missing = want.filter((w) => !seen.has(w));
      return missing.length === 0
        ? undefined
        : `node ${idOf.get(address)} (${address}) lists nodes [${[...seen].sort().join(',')}], missing [${missing.join(',')}]`;
    },
    opts.timeoutMs,
    `Kafka not ready after ${opts.timeoutMs} ms`,
    opts.check,
    (address) => `node ${idOf.get(address)} (${address})`,
  );
}

/**
 * Waits until none of `brokers` (the running nodes) lists node `id` in its metadata: the controller has fenced
 * that node's broker session. Returns the milliseconds waited; with no running node to ask, returns at once.
 */
export async function waitFenced(id: number, brokers: readonly string[], timeoutMs: number): Promise<number> {
  if (brokers.length === 0) return 0;
  return pollMetadata(
    brokers,
    (address, c) =>
      c.brokers.some((b) => b.nodeId === id) ? `${address} still lists node ${id}` : undefined,
    timeoutMs,
    `node ${id} was not fenced by the controller within ${timeoutMs} ms`,
  );
}

/** Waits until any of `brokers` answers a metadata request; returns what it said. */
export async function waitAnswer(
  brokers: readonly string[],
  timeoutMs: number,
): Promise<{ brokers: BrokerInfo[]; clusterId: string }> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await describeCluster(brokers, 3000);
    } catch (e) {
      if (Date.now() >= deadline) throw e;
    }
    await sleep(500);
  }
}

/** Whether we could listen on host:port right now. */
export function portFree(port: number, host = HOST): Promise<boolean> {
  return new Promise((resolvePromise) => {
    const server = createServer();
    server.unref();
    server.once('error', () => resolvePromise(false));
    server.listen({ port, host, exclusive: true }, () => {
      server.close(() => resolvePromise(true));
    });
  });
}

/** The ports among `ports` that are in use on `host`. */
export async function busyPorts(ports: readonly number[], host = HOST): Promise<number[]> {
  const busy: number[] = [];
  for (const p of ports) if (!(await portFree(p, host))) busy.push(p);
  return busy;
}

/** The first base port from `start` (then +100, +200, ...) whose ports are all free. */
export async function freeBasePort(nodes: NodeCount, start: number): Promise<number | undefined> {
  for (let i = 0; i < 10; i++) {
    const base = start + i * 100;
    const ports = nodePorts(nodes, base).flatMap((p) => [p.port, p.controllerPort]);
    if ((await busyPorts(ports)).length === 0) return base;
  }
  return undefined;
}
