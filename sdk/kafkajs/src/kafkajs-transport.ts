// The Transport implementation on kafkajs 2.2.4.

import type {
  ConsumerOptions,
  Admin as DirigoAdmin,
  Consumer as DirigoConsumer,
  Producer as DirigoProducer,
  ProducerOptions,
  Transport,
} from '@dirigo/core';
import {
  type IncomingRecord,
  type KafkaSecurity,
  type Logger,
  type ReadFrom,
  checkFirstConnection,
  type ResolvedSecurity,
  SecurityError,
  silentLogger,
  type TopicPartitionOffset,
  transportSecurity,
} from '@dirigo/core';
import type { Admin as KAdmin, Kafka, KafkaConfig, RetryOptions } from 'kafkajs';
import { KafkajsAdmin, throwUnknownTopic } from './admin.ts';
import { KafkajsConsumer } from './consumer.ts';
import { isUnknownTopicError, mapError } from './errors.ts';
import { KafkajsInternals } from './internals.ts';
import { kafkajs, memberOffsetsPatched } from './kafkajs-patches.ts';
import { kafkajsLevelFor, pinoLogCreator } from './logging.ts';
import { KafkajsProducer } from './producer.ts';
import { type ReadToEndOptions, readToEnd } from './read-to-end.ts';
import { diagnoseSecurityFailure, kafkajsSecurity } from './security.ts';

const { Kafka: KafkaClient, logLevel: KafkaLogLevel } = kafkajs;

export interface KafkajsTransportOptions {
  /** Bootstrap brokers: `host:port`, a comma-separated list, or an array. */
  readonly brokers: string | readonly string[];
  /** Client id sent to the brokers. Default 'dirigo'. */
  readonly clientId?: string;
  /** Logger for this transport and kafkajs's own logs. Default: silent. */
  readonly logger?: Logger;
  /** TCP connect timeout in ms. Default 3000. */
  readonly connectionTimeout?: number;
  /** Request timeout in ms. Default 30000. */
  readonly requestTimeout?: number;
  /**
   * kafkajs retry policy (per call: produce, join, admin requests...). Default: 15 retries from 100 ms, at most
   * 2 s apart (about 25 s in total, enough to ride over a broker failover).
   */
  readonly retry?: RetryOptions;
  /**
   * TLS and SASL (see `KafkaSecurity`); checked when the transport is created (`ConfigError` naming the
   * field). The first connection is checked once: an untrusted certificate, a rejected client certificate,
   * wrong credentials or a protocol that does not match the listener reject every connect with a
   * `SecurityError` naming the cause, instead of being retried. Default: PLAINTEXT.
   */
  readonly security?: KafkaSecurity;
  /** kafkajs's own TLS settings, passed through unchecked. Prefer `security`; not together with it. */
  readonly ssl?: KafkaConfig['ssl'];
  /** kafkajs's own SASL settings, passed through unchecked. Prefer `security`; not together with it. */
  readonly sasl?: KafkaConfig['sasl'];
  /** Tuning of `readToEnd`. */
  readonly readToEnd?: ReadToEndOptions;
  /**
   * A consumer's partition that is behind its end and has not moved for this long is checked for record batches
   * emptied by compaction, which kafkajs would re-fetch forever (its issue #1072). 0 disables. Default 10000.
   */
  readonly stuckPartitionCheckMs?: number;
  /**
   * After a consumer's `eachBatch` rejects, its partition pauses this long before the batch is delivered again
   * from the last committed (or sought) position. A rebalance ends the pause (positions restart from the
   * committed offsets anyway). Default 250.
   */
  readonly redeliveryBackoffMs?: number;
}

interface Closeable {
  disconnect?(): Promise<void>;
  close?(): Promise<void>;
}

// Short backoff steps: kafkajs refreshes metadata right after a failure and then sleeps the backoff, so a long
// backoff retries with metadata from before a leader moved. ~25 s in total, enough to ride over a failover.
const DEFAULT_RETRY: RetryOptions = { retries: 15, initialRetryTime: 100, maxRetryTime: 2_000 };

function brokerList(brokers: string | readonly string[]): string[] {
  const list = typeof brokers === 'string' ? brokers.split(',') : [...brokers];
  return list.map((b) => b.trim()).filter((b) => b.length > 0);
}

export class KafkajsTransport implements Transport {
  readonly name = 'kafkajs';
  readonly #kafka: Kafka;
  readonly #config: KafkaConfig;
  readonly #clientId: string;
  readonly #byClientId = new Map<string, Kafka>();
  readonly #logger: Logger;
  readonly #retry: RetryOptions;
  readonly #readToEndOptions: ReadToEndOptions;
  readonly #stuckPartitionCheckMs: number;
  readonly #redeliveryBackoffMs: number;
  readonly #knownTopics = new Map<string, number>();
  /** Topics seen created (usable) by this transport's admins, with when (see `AdminContext.created`). */
  readonly #createdTopics = new Map<string, number>();
  readonly #open = new Set<Closeable>();
  #sharedAdmin: Promise<KAdmin> | null = null;
  #probe: KafkajsInternals | null = null;
  #closed = false;
  readonly #security: ResolvedSecurity;
  #connectionCheck: Promise<void> | null = null;

  /**
   * Exactly-once v2 (KIP-447): offsets in a transaction carry the member's generation and id. kafkajs speaks only
   * the requests from before it; the transport sends TxnOffsetCommit v3 and OffsetFetch v7 through kafkajs's own
   * connections (eos-v2.ts; kafkajs-patches.ts, fix 7), so this holds where those patches and internals are found.
   */
  get exactlyOnceV2(): boolean {
    return memberOffsetsPatched() && this.#getProbe().available();
  }

  constructor(options: KafkajsTransportOptions) {
    const brokers = brokerList(options.brokers);
    if (brokers.length === 0) throw new Error('KafkajsTransport: `brokers` is empty');
    this.#logger = (options.logger ?? silentLogger()).child({ transport: 'kafkajs' });
    this.#retry = options.retry ?? DEFAULT_RETRY;
    this.#readToEndOptions = options.readToEnd ?? {};
    this.#stuckPartitionCheckMs = options.stuckPartitionCheckMs ?? 10_000;
    this.#redeliveryBackoffMs = options.redeliveryBackoffMs ?? 250;
    this.#clientId = options.clientId ?? 'dirigo';
    this.#security = transportSecurity(
      options.security,
      { tls: options.ssl, sasl: options.sasl },
      'raw kafkajs `ssl` / `sasl`',
    );
    const mapped = options.security !== undefined ? kafkajsSecurity(this.#security) : undefined;
    const ssl = mapped !== undefined ? mapped.ssl : options.ssl;
    const sasl = mapped !== undefined ? mapped.sasl : options.sasl;
    this.#config = {
      brokers,
      clientId: this.#clientId,
      connectionTimeout: options.connectionTimeout ?? 3_000,
      requestTimeout: options.requestTimeout ?? 30_000,
      retry: this.#retry,
      logLevel: kafkajsLevelFor(this.#logger),
      logCreator: pinoLogCreator(this.#logger),
      ...(ssl === undefined ? {} : { ssl }),
      ...(sasl === undefined ? {} : { sasl }),
    };
    this.#kafka = new KafkaClient(this.#config);
    this.#logger.debug({ security: this.#security.description }, 'kafkajs transport created');
  }

  /**
   * Connects once (no retries) and, if that fails for a TLS or SASL reason, rejects with a `SecurityError`
   * naming it, now and at every later connect. Other failures (a broker not up yet) are left to the clients'
   * own retries. Runs once per transport, before its first connection.
   */
  #checkConnection(): Promise<void> {
    this.#connectionCheck ??= this.#runConnectionCheck();
    return this.#connectionCheck;
  }

  async #runConnectionCheck(): Promise<void> {
    const probe = new KafkaClient({
      ...this.#config,
      clientId: `${this.#clientId}-connection-check`,
      logLevel: KafkaLogLevel.NOTHING,
      retry: { retries: 0 },
    });
    await checkFirstConnection(
      async () => {
        const admin = probe.admin({ retry: { retries: 0 } });
        try {
          await admin.connect();
        } finally {
          await admin.disconnect().catch(() => undefined);
        }
      },
      (error) => diagnoseSecurityFailure(error, this.#security),
    );
  }

  /** The kafkajs client for a client id (kafkajs sets it per client, Dirigo per producer or consumer). */
  #kafkaFor(clientId: string | undefined): Kafka {
    if (clientId === undefined || clientId === this.#clientId) return this.#kafka;
    let kafka = this.#byClientId.get(clientId);
    if (kafka === undefined) {
      kafka = new KafkaClient({ ...this.#config, clientId });
      this.#byClientId.set(clientId, kafka);
    }
    return kafka;
  }

  async admin(): Promise<DirigoAdmin> {
    this.#checkOpen();
    await this.#checkConnection();
    const admin = this.#kafka.admin({ retry: this.#retry });
    try {
      await admin.connect();
    } catch (error) {
      throw mapError(error, { operation: 'connect admin' });
    }
    const wrapped = new KafkajsAdmin(
      {
        logger: this.#logger,
        knownTopics: this.#knownTopics,
        created: this.#createdTopics,
        internals: () => this.#getProbe(),
        closed: (a) => this.#open.delete(a),
      },
      admin,
    );
    this.#open.add(wrapped);
    return wrapped;
  }

  producer(options: ProducerOptions = {}): DirigoProducer {
    this.#checkOpen();
    const producer = new KafkajsProducer(
      {
        kafka: this.#kafkaFor(options.clientId),
        logger: this.#logger,
        retry: this.#retry,
        ensureTopics: (topics) => this.#ensureTopics(topics),
        partitionCount: (topic) => this.#knownTopics.get(topic),
        closed: (p) => this.#open.delete(p),
        connectionCheck: () => this.#checkConnection(),
        probe: () => this.#getProbe(),
      },
      options,
    );
    this.#open.add(producer);
    return producer;
  }

  consumer(options: ConsumerOptions): DirigoConsumer {
    this.#checkOpen();
    const consumer = new KafkajsConsumer(
      {
        kafka: this.#kafkaFor(options.clientId),
        logger: this.#logger,
        retry: this.#retry,
        sharedAdmin: () => this.#getSharedAdmin(),
        probe: () => this.#getProbe(),
        stuckPartitionCheckMs: this.#stuckPartitionCheckMs,
        redeliveryBackoffMs: this.#redeliveryBackoffMs,
        closed: (c) => this.#open.delete(c),
        connectionCheck: () => this.#checkConnection(),
      },
      options,
    );
    this.#open.add(consumer);
    return consumer;
  }

  readToEnd(
    partitions: readonly ReadFrom[],
    onRecords: (records: readonly IncomingRecord[]) => void | Promise<void>,
  ): Promise<TopicPartitionOffset[]> {
    this.#checkOpen();
    return readToEnd(
      {
        kafka: this.#kafka,
        logger: this.#logger,
        retry: this.#retry,
        sharedAdmin: () => this.#getSharedAdmin(),
        probe: this.#getProbe(),
      },
      partitions,
      onRecords,
      this.#readToEndOptions,
    );
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    const open = [...this.#open];
    this.#open.clear();
    const results = await Promise.allSettled(
      open.map((c) => (c.disconnect !== undefined ? c.disconnect() : c.close!())),
    );
    for (const r of results) {
      if (r.status === 'rejected') this.#logger.warn({ err: r.reason }, 'closing a client failed');
    }
    if (this.#probe !== null) {
      await this.#probe.close().catch(() => undefined);
      this.#probe = null;
    }
    if (this.#sharedAdmin !== null) {
      const admin = this.#sharedAdmin;
      this.#sharedAdmin = null;
      try {
        await (await admin).disconnect();
      } catch {
        // Never connected.
      }
    }
  }

  #getProbe(): KafkajsInternals {
    this.#probe ??= new KafkajsInternals(this.#kafka);
    return this.#probe;
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('KafkajsTransport: the transport is closed');
  }

  #getSharedAdmin(): Promise<KAdmin> {
    if (this.#sharedAdmin === null) {
      const admin = this.#kafka.admin({ retry: this.#retry });
      const connecting = this.#checkConnection()
        .then(() => admin.connect())
        .then(() => admin);
      this.#sharedAdmin = connecting;
      connecting.catch(() => {
        if (this.#sharedAdmin === connecting) this.#sharedAdmin = null;
      });
    }
    return this.#sharedAdmin.catch((error: unknown) => {
      if (error instanceof SecurityError) throw error;
      throw mapError(error, { operation: 'connect admin' });
    });
  }

  /** Rejects with `UnknownTopicError` unless every topic exists; a topic once seen is not checked again. */
  async #ensureTopics(topics: readonly string[]): Promise<void> {
    let missing: string[] | undefined;
    for (const t of topics) {
      if (this.#knownTopics.has(t)) continue;
      if (missing === undefined) missing = [t];
      else missing.push(t);
    }
    if (missing === undefined) return;
    const admin = await this.#getSharedAdmin();
    try {
      const metadata = await admin.fetchTopicMetadata({ topics: missing });
      for (const t of metadata.topics) {
        if (t.partitions.length > 0) this.#knownTopics.set(t.name, t.partitions.length);
      }
    } catch (error) {
      if (isUnknownTopicError(error)) return throwUnknownTopic(admin, missing, error);
      throw mapError(error, { operation: 'produce: topic metadata' });
    }
    for (const t of missing) if (!this.#knownTopics.has(t)) return throwUnknownTopic(admin, [t], undefined);
  }
}
