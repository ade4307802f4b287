// Helpers shared by the integration suites: a transport on the run's broker, unique names, reading topics.
import { createLogger, type Logger, type Transport } from '@dirigo/core';
import { inject } from 'vitest';
import { makeTransport, type TransportName, transportFromEnv } from './transports.ts';

export const brokers = (): string => inject('kafkaBrokers');

export const testLogger = (): Logger => createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'error' });

/** A transport on the run's broker: kafkajs, or the client DIRIGO_TRANSPORT names (worker processes follow it). */
export function kafkaTransport(clientId = 'it', name: TransportName = transportFromEnv()): Transport {
  return makeTransport(name, brokers(), clientId, testLogger());
}

/** A name unique to this run, safe for topics and groups. */
export const unique = (prefix: string): string =>
  `${prefix}-${Date.now().toString(36)}${Math.floor(Math.random() * 1e6).toString(36)}`;

/** Every committed record of a topic as [key, parsed JSON value]. */
export async function readJson<T>(
  transport: Transport,
  topic: string,
): Promise<{ key: string | null; value: T; headers: Record<string, Buffer> }[]> {
  const admin = await transport.admin();
  const out: { key: string | null; value: T; headers: Record<string, Buffer> }[] = [];
  await transport.readToEnd(
    (await admin.fetchTopicOffsets(topic)).map((p) => ({ topic, partition: p.partition, fromOffset: 0 })),
    (records) => {
      for (const r of records)
        out.push({
          key: r.key?.toString() ?? null,
          value: JSON.parse(r.value!.toString()) as T,
          headers: r.headers,
        });
    },
  );
  return out;
}

export async function produceJson(
  transport: Transport,
  topic: string,
  records: { key: string; value: unknown }[],
): Promise<void> {
  const producer = transport.producer({ clientId: 'it-feeder' });
  await producer.connect();
  for (let i = 0; i < records.length; i += 1000) {
    await producer.send(
      records
        .slice(i, i + 1000)
        .map((r) => ({ topic, key: Buffer.from(r.key), value: Buffer.from(JSON.stringify(r.value)) })),
    );
  }
  await producer.disconnect();
}
