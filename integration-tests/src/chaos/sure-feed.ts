// The chaos feeder when brokers are killed (`--broker-kills`). A plain send that fails while a partition leader
// or the coordinator moves may have been written all the same (the answer was lost), and sending it again would
// put a record in twice: the tracker would then expect one output where the apps rightly make two. So each batch
// is one transaction of a transactional producer; when anything fails, a new producer with the same
// transactional id is connected (InitProducerId ends the batch's transaction: committed if its commit had
// reached the coordinator, else aborted), and the input topics are read (read_committed) for the batch's records
// (header `chaos-seq`): all there means acknowledged, none means send it again, and a part of them is an error
// (a transaction is atomic).
import type { Logger, OutgoingRecord, Producer, Transport } from '@dirigo/core';

/** The header naming a fed record's seq, unique in the run. */
export const SEQ_HEADER = 'chaos-seq';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
/** Pause between attempts while the cluster recovers. */
const RETRY_MS = 500;
/** A client call still pending after this long is given up (and named in the log): the client hung. */
const CALL_DEADLINE_MS = 30_000;

/** `p`, or a rejection naming `what` once it has been pending for CALL_DEADLINE_MS. */
function bounded<T>(what: string, p: Promise<T>): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () => reject(new Error(`chaos feed: ${what} still pending after ${CALL_DEADLINE_MS} ms`)),
      CALL_DEADLINE_MS,
    );
  });
  return Promise.race([p, deadline]).finally(() => clearTimeout(timer));
}

export class SureFeeder {
  private producer: Producer | undefined;
  /** Batches sent again because none of their records were there after a failure. */
  resent = 0;
  /** Batches found written after their send had failed. */
  committedDespiteError = 0;

  private readonly transport: Transport;
  private readonly transactionalId: string;
  private readonly inputTopics: readonly string[];
  private readonly logger: Logger;

  constructor(transport: Transport, transactionalId: string, inputTopics: readonly string[], logger: Logger) {
    this.transport = transport;
    this.transactionalId = transactionalId;
    this.inputTopics = inputTopics;
    this.logger = logger;
  }

  /** `records` tagged with their seqs, sent as one transaction until the brokers hold them, once. */
  async send(records: readonly OutgoingRecord[], seqs: readonly number[]): Promise<void> {
    const tagged = records.map((r, i) => ({
      ...r,
      headers: { ...r.headers, [SEQ_HEADER]: Buffer.from(String(seqs[i])) },
    }));
    for (;;) {
      try {
        this.producer ??= await this.connect();
        const txn = await this.producer.beginTransaction();
        try {
          await txn.send(tagged);
          await txn.commit();
          return;
        } catch (e) {
          await txn.abort().catch(() => {});
          throw e;
        }
      } catch (e) {
        this.logger.warn(
          { err: e },
          'chaos feed: a batch failed; fencing its transaction and looking for it',
        );
        await this.producer?.disconnect().catch(() => {});
        this.producer = await this.connect(); // ends the batch's transaction one way or the other
        const seen = await this.visible(new Set(seqs.map(String)));
        if (seen === seqs.length) {
          this.committedDespiteError++;
          return;
        }
        if (seen > 0)
          throw new Error(`chaos feed: ${seen} of the ${seqs.length} records of one transaction are visible`);
        this.resent++;
      }
    }
  }

  async close(): Promise<void> {
    await this.producer?.disconnect().catch(() => {});
    this.producer = undefined;
  }

  /** A connected producer with the feeder's transactional id (retried while the cluster recovers). */
  private async connect(): Promise<Producer> {
    for (;;) {
      const p = this.transport.producer({ transactionalId: this.transactionalId, clientId: 'chaos-feeder' });
      try {
        await bounded('connect (InitProducerId)', p.connect());
        return p;
      } catch (e) {
        this.logger.warn({ err: e }, 'chaos feed: connecting the transactional producer failed; retrying');
        await bounded('disconnect', p.disconnect()).catch(() => {});
        await sleep(RETRY_MS);
      }
    }
  }

  /**
   * The acknowledged seqs missing from the input topics (read_committed) at the end of the feed, and those found
   * more than once: either would make the apps' results look like lost or duplicated processing.
   */
  async check(acked: readonly number[]): Promise<{ missing: number[]; repeated: number[] }> {
    const counts = await this.inputCounts(new Set(acked.map(String)));
    const missing = acked.filter((s) => !counts.has(String(s)));
    const repeated = acked.filter((s) => (counts.get(String(s)) ?? 0) > 1);
    return { missing, repeated };
  }

  /** How many records of the input topics carry one of `seqs` (retried while the cluster recovers). */
  private async visible(seqs: ReadonlySet<string>): Promise<number> {
    let n = 0;
    for (const c of (await this.inputCounts(seqs)).values()) n += c;
    return n;
  }

  /** Per seq of `seqs`, how many records of the input topics carry it (retried while the cluster recovers). */
  private async inputCounts(seqs: ReadonlySet<string>): Promise<Map<string, number>> {
    for (;;) {
      try {
        const admin = await this.transport.admin();
        const seen = new Map<string, number>();
        for (const topic of this.inputTopics) {
          const from = (await admin.fetchTopicOffsets(topic)).map((p) => ({
            topic,
            partition: p.partition,
            fromOffset: 0,
          }));
          await bounded(
            `reading ${topic}`,
            this.transport.readToEnd(from, (batch) => {
              for (const r of batch) {
                const s = r.headers[SEQ_HEADER]?.toString();
                if (s !== undefined && seqs.has(s)) seen.set(s, (seen.get(s) ?? 0) + 1);
              }
            }),
          );
        }
        return seen;
      } catch (e) {
        this.logger.warn({ err: e }, 'chaos feed: reading the inputs failed; retrying');
        await sleep(RETRY_MS);
      }
    }
  }
}
