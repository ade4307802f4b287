// The Transport implementation on @platformatic/kafka.
import {
  ConfigError,
  type ConsumerOptions,
  type Admin as DirigoAdmin,
  type Consumer as DirigoConsumer,
  type Producer as DirigoProducer,
  type IncomingRecord,
  type Logger,
  type KafkaSecurity,
  type ProducerOptions,
  type ReadFrom,
  checkFirstConnection,
  type ResolvedSecurity,
  silentLogger,
  type TopicPartitionOffset,
  type Transport,
  transportSecurity,
} from '@dirigo/core';
import {
  ConnectionPool,
  FindCoordinatorKeyTypes,
  Admin as PAdmin,
  type RetryDelayGetter,
} from '@platformatic/kafka';
import { assertBrokerApis, type BrokerApi } from './apis.ts';
import { PlatformaticAdmin, topicMetadata } from './admin.ts';
import { PlatformaticConsumer } from './consumer.ts';
import { hasErrorId, mapError } from './errors.ts';
import {
  type BaseClientOptions,
  PlatformaticProducer,
  type ProduceEncoder,
  produceEncoderOf,
} from './producer.ts';
import { type ReadToEndOptions, readToEnd } from './read-to-end.ts';
import { diagnoseSecurityFailure, isBareTlsClose, platformaticSecurity, tlsAlert } from './security.ts';

export interface PlatformaticTransportOptions {
  /** Bootstrap brokers: `host:port`, a comma-separated list, or an array. */
  readonly brokers: string | readonly string[];
  /** Client id sent to the brokers. Default 'dirigo'. */
  readonly clientId?: string;
  /** Logger for this transport. Default: silent. */
  readonly logger?: Logger;
  /** TCP connect timeout in ms. Default 3000. */
  readonly connectionTimeout?: number;
  /** Request timeout in ms. Default 30000. */
  readonly requestTimeout?: number;
  /**
   * How often a failed request is retried (the client refreshes metadata in between). Default 15, from 100 ms
   * doubling to at most 2 s apart (about 25 s in total, enough to ride over a broker failover).
   */
  readonly retries?: number;
  /**
   * TLS and SASL (the same settings as the kafkajs transport's). Checked when the transport is created
   * (`ConfigError` naming the field); a first connection failing for a TLS or SASL reason rejects with a
   * `SecurityError` naming the cause, instead of being retried. Default: PLAINTEXT.
   */
  readonly security?: KafkaSecurity;
  /** The client's own TLS options (Node's `tls.connect` options), passed through unchecked. Prefer `security`. */
  readonly tls?: BaseClientOptions['tls'];
  /**
   * The client's own SASL options (`{ mechanism: 'PLAIN' | 'SCRAM-SHA-256' | 'SCRAM-SHA-512' | 'OAUTHBEARER',
   * username, password }`), passed through unchecked. Prefer `security`; not together with it.
   */
  readonly sasl?: BaseClientOptions['sasl'];
  /** Tuning of `readToEnd`. */
  readonly readToEnd?: ReadToEndOptions;
  /**
   * After a consumer's `eachBatch` rejects, its partition pauses this long before the batch is delivered again
   * from the last committed (or sought) position. Default 250.
   */
  readonly redeliveryBackoffMs?: number;
  /** How long the group waits for members to re-join during a rebalance. Default 60000. */
  readonly rebalanceTimeoutMs?: number;
  /**
   * The consumer group protocol. `classic` (default): JoinGroup/SyncGroup, every member stops while any member
   * joins or leaves (eager). `consumer`: the broker-driven protocol of KIP-848 (Kafka 4.0+): a rebalance moves
   * only the partitions that change owner, and every other partition keeps being processed. Its session timeout
   * and heartbeat interval are the broker's (`group.consumer.session.timeout.ms`, default 45 s;
   * `group.consumer.heartbeat.interval.ms`, default 5 s), not the consumer's `sessionTimeoutMs`.
   */
  readonly groupProtocol?: GroupProtocol;
  /**
   * Who encodes Produce requests. `dirigo` (default): the transport, into one buffer per request
   * (produce-request.ts: the client's bytes, measured faster; timestamps 2^31 ms and more apart in one batch are
   * right, where the client's are not). `client`: the client's own encoder, as an escape hatch. Default: the
   * environment variable `DIRIGO_PRODUCE_ENCODER`, else `dirigo`.
   */
  readonly produceEncoder?: ProduceEncoder;
}

/** The consumer group protocols a transport can speak: `classic` (eager) or KIP-848's `consumer`. */
export type GroupProtocol = 'classic' | 'consumer';

interface Closeable {
  disconnect?(): Promise<void>;
  close?(): Promise<void>;
}

function brokerList(brokers: string | readonly string[]): string[] {
  const list = typeof brokers === 'string' ? brokers.split(',') : [...brokers];
  return list.map((b) => b.trim()).filter((b) => b.length > 0);
}

/**
 * 100 ms doubling up to 2 s: short first steps, so a moved leader is found quickly after a metadata refresh.
 * CONCURRENT_TRANSACTIONS (the transaction coordinator is still writing the markers of the producer's last
 * transaction: a transaction begun right after the previous commit meets it at AddPartitionsToTxn) is retried
 * after 2 ms, 4 ms, 8 ms... (the markers of a local broker take a few ms), instead of holding every back-to-back
 * transaction 100 ms.
 */
export const retryDelay: RetryDelayGetter = (_client, _operation, attempt, _retries, error) =>
  hasErrorId(error, 'CONCURRENT_TRANSACTIONS')
    ? Math.min(100, 2 ** attempt)
    : Math.min(2_000, 100 * 2 ** (attempt - 1));

export class PlatformaticTransport implements Transport {
  readonly name = 'platformatic';
  readonly #client: BaseClientOptions;
  readonly #clientId: string;
  readonly #logger: Logger;
  readonly #readToEndOptions: ReadToEndOptions;
  readonly #redeliveryBackoffMs: number;
  readonly #rebalanceTimeoutMs: number;
  readonly #groupProtocol: GroupProtocol;
  readonly #produceEncoder: ProduceEncoder;
  readonly #knownTopics = new Map<string, number>();
  readonly #coordinators = new Map<string, Promise<number>>();
  readonly #open = new Set<Closeable>();
  readonly #security: ResolvedSecurity;
  #connectionCheck: Promise<void> | null = null;
  #sharedAdmin: PAdmin | null = null;
  #closed = false;

  /**
   * Exactly-once v2: offsets in a transaction carry the member's generation (classic protocol) or member epoch
   * (KIP-848's `consumer` protocol, read from the client's heartbeat answers: see member-epochs.ts) and member id.
   */
  get exactlyOnceV2(): boolean {
    return true;
  }

  constructor(options: PlatformaticTransportOptions) {
    const brokers = brokerList(options.brokers);
    if (brokers.length === 0) throw new Error('PlatformaticTransport: `brokers` is empty');
    this.#logger = (options.logger ?? silentLogger()).child({ transport: 'platformatic' });
    this.#clientId = options.clientId ?? 'dirigo';
    this.#readToEndOptions = options.readToEnd ?? {};
    this.#redeliveryBackoffMs = options.redeliveryBackoffMs ?? 250;
    this.#rebalanceTimeoutMs = options.rebalanceTimeoutMs ?? 60_000;
    this.#groupProtocol = options.groupProtocol ?? 'classic';
    if (this.#groupProtocol !== 'classic' && this.#groupProtocol !== 'consumer') {
      throw new ConfigError(
        'groupProtocol',
        `unknown group protocol '${String(this.#groupProtocol)}': use 'classic' or 'consumer'`,
      );
    }
    this.#produceEncoder = produceEncoderOf(options.produceEncoder);
    this.#security = transportSecurity(
      options.security,
      { tls: options.tls, sasl: options.sasl },
      "client's raw `tls` / `sasl`",
    );
    const { tls, sasl } =
      options.security !== undefined
        ? platformaticSecurity(this.#security)
        : { tls: options.tls, sasl: options.sasl };
    this.#client = {
      bootstrapBrokers: brokers,
      connectTimeout: options.connectionTimeout ?? 3_000,
      timeout: options.requestTimeout ?? 30_000,
      retries: options.retries ?? 15,
      retryDelay,
      ...(tls === undefined ? {} : { tls }),
      ...(sasl === undefined ? {} : { sasl }),
    };
    this.#logger.debug({ security: this.#security.description }, 'platformatic transport created');
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
    let apis: readonly BrokerApi[] | undefined;
    await checkFirstConnection(
      async () => {
        const probe = new PAdmin({
          ...this.#client,
          clientId: `${this.#clientId}-connection-check`,
          retries: 0,
        });
        try {
          await probe.metadata({ topics: [] });
          apis = await probe.listApis();
        } finally {
          await probe.close().catch(() => undefined);
        }
      },
      async (error) => {
        const tls = this.#client.tls;
        const alert =
          tls !== undefined && isBareTlsClose(error, this.#security)
            ? await tlsAlert(this.#client.bootstrapBrokers[0] as string, tls)
            : undefined;
        return diagnoseSecurityFailure(error, this.#security, alert);
      },
    );
    // Brokers too old for the transport's requests: refused here, before a consumer retries them for ever.
    if (apis !== undefined) assertBrokerApis(apis, this.#client.bootstrapBrokers.join(','));
  }

  async admin(): Promise<DirigoAdmin> {
    this.#checkOpen();
    await this.#checkConnection();
    const admin = new PAdmin({ ...this.#client, clientId: this.#clientId });
    try {
      await admin.metadata({ topics: [] });
    } catch (error) {
      await admin.close().catch(() => {});
      throw mapError(error, { operation: 'connect admin' });
    }
    const { bootstrapBrokers: _b, ...connectionOptions } = this.#client;
    const wrapped = new PlatformaticAdmin(
      {
        logger: this.#logger,
        knownTopics: this.#knownTopics,
        groupCoordinator: (groupId) => this.#groupCoordinator(groupId),
        forgetGroupCoordinator: (groupId) => this.#coordinators.delete(groupId),
        pool: new ConnectionPool(this.#clientId, connectionOptions),
        closed: (a) => this.#open.delete(a),
      },
      admin,
    );
    this.#open.add(wrapped);
    return wrapped;
  }

  producer(options: ProducerOptions = {}): DirigoProducer {
    this.#checkOpen();
    const producer = new PlatformaticProducer(
      {
        logger: this.#logger,
        client: this.#client,
        clientId: this.#clientId,
        ensureTopics: (topics) => this.#ensureTopics(topics),
        partitionCount: (topic) => this.#knownTopics.get(topic),
        groupCoordinator: (groupId) => this.#groupCoordinator(groupId),
        forgetGroupCoordinator: (groupId) => this.#coordinators.delete(groupId),
        connectionCheck: () => this.#checkConnection(),
        produceEncoder: this.#produceEncoder,
        closed: (p) => this.#open.delete(p),
      },
      options,
    );
    this.#open.add(producer);
    return producer;
  }

  consumer(options: ConsumerOptions): DirigoConsumer {
    this.#checkOpen();
    const consumer = new PlatformaticConsumer(
      {
        logger: this.#logger,
        client: this.#client,
        clientId: this.#clientId,
        sharedAdmin: () => this.#getSharedAdmin(),
        redeliveryBackoffMs: this.#redeliveryBackoffMs,
        rebalanceTimeoutMs: this.#rebalanceTimeoutMs,
        groupProtocol: this.#groupProtocol,
        groupCoordinator: (groupId) => this.#groupCoordinator(groupId),
        forgetGroupCoordinator: (groupId) => this.#coordinators.delete(groupId),
        connectionCheck: () => this.#checkConnection(),
        closed: (c) => this.#open.delete(c),
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
        logger: this.#logger,
        client: this.#client,
        clientId: this.#clientId,
        sharedAdmin: () => this.#getSharedAdmin(),
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
    const admin = this.#sharedAdmin;
    this.#sharedAdmin = null;
    await admin?.close().catch(() => {});
  }

  #checkOpen(): void {
    if (this.#closed) throw new Error('PlatformaticTransport: the transport is closed');
  }

  #getSharedAdmin(): PAdmin {
    this.#sharedAdmin ??= new PAdmin({ ...this.#client, clientId: `${this.#clientId}-admin` });
    return this.#sharedAdmin;
  }

  /** The node coordinating a consumer group (cached until a request to it fails). */
  #groupCoordinator(groupId: string): Promise<number> {
    let found = this.#coordinators.get(groupId);
    if (found === undefined) {
      found = this.#getSharedAdmin()
        .findCoordinator({ keyType: FindCoordinatorKeyTypes.GROUP, keys: [groupId] })
        .then((answer) => {
          const c = answer.find((x) => x.key === groupId);
          if (c === undefined) throw new Error(`no coordinator for group ${groupId}`);
          return c.nodeId;
        });
      this.#coordinators.set(groupId, found);
      found.catch(() => this.#coordinators.delete(groupId));
    }
    return found;
  }

  /** Rejects with `UnknownTopicError` unless every topic exists; a topic once seen is not checked again. */
  async #ensureTopics(topics: readonly string[]): Promise<void> {
    const missing = topics.filter((t) => !this.#knownTopics.has(t));
    if (missing.length === 0) return;
    try {
      const metadata = await topicMetadata(this.#getSharedAdmin(), missing);
      for (const t of missing) this.#knownTopics.set(t, metadata.topics.get(t)!.partitionsCount);
    } catch (error) {
      throw mapError(error, { operation: 'produce: topic metadata', topic: missing[0]! });
    }
  }
}
