// Low-level API versions: the transport sends some requests through the client's API functions (Fetch,
// OffsetCommit), and picks the newest version both the brokers and the client speak.
import { DirigoError, TransportError } from '@dirigo/core';

/** A client that can list the brokers' API versions. */
export type ApiClient = Pick<import('@platformatic/kafka').Base, 'listApis'>;

const chosen = new WeakMap<ApiClient, Map<number, Promise<unknown>>>();

/**
 * The newest of `candidates` (version and API function, newest first) that the brokers speak, cached per client
 * and API key; rejects with `missing` (the needed Kafka version) when none is.
 */
export function newestApi<Api>(
  client: ApiClient,
  apiKey: number,
  candidates: readonly (readonly [number, Api])[],
  missing: string,
): Promise<Api> {
  let perKey = chosen.get(client);
  if (perKey === undefined) {
    perKey = new Map();
    chosen.set(client, perKey);
  }
  let found = perKey.get(apiKey) as Promise<Api> | undefined;
  if (found === undefined) {
    found = client.listApis().then((list) => {
      const api = list.find((a) => a.apiKey === apiKey);
      const pick = candidates.find(([v]) => api !== undefined && v >= api.minVersion && v <= api.maxVersion);
      if (pick === undefined) throw new DirigoError(missing);
      return pick[1];
    });
    perKey.set(apiKey, found);
    const cache = perKey;
    found.catch(() => cache.delete(apiKey));
  }
  return found;
}

/** A broker API as ApiVersions lists it. */
export interface BrokerApi {
  readonly apiKey: number;
  readonly minVersion: number;
  readonly maxVersion: number;
}

/**
 * The oldest versions of the APIs the transport sends through its own code (Fetch, OffsetFetch, OffsetCommit), with
 * the Kafka release that brought each: brokers without them cannot run a consumer of this transport.
 */
export const REQUIRED_APIS = [
  { apiKey: 1, version: 13, name: 'Fetch', kafka: '3.1' },
  { apiKey: 9, version: 8, name: 'OffsetFetch', kafka: '3.0' },
  { apiKey: 8, version: 8, name: 'OffsetCommit', kafka: '2.8' },
] as const;

/**
 * Throws a TransportError naming what is missing when the brokers do not speak every API of `REQUIRED_APIS` (Kafka
 * before 3.1): without the check a consumer retried the refused requests for ever and delivered nothing.
 */
export function assertBrokerApis(apis: readonly BrokerApi[], brokers: string): void {
  const missing = REQUIRED_APIS.filter((r) => {
    const api = apis.find((a) => a.apiKey === r.apiKey);
    return api === undefined || api.maxVersion < r.version;
  });
  if (missing.length === 0) return;
  throw new TransportError(
    `the brokers at ${brokers} are too old for the platformatic transport: they do not speak ${missing
      .map((m) => `${m.name} v${m.version}+ (Kafka ${m.kafka})`)
      .join(
        ', ',
      )}. It runs on Kafka 3.5 or newer (what @platformatic/kafka supports): upgrade the cluster, or use ` +
      'the kafkajs transport (--transport kafkajs, DIRIGO_TRANSPORT=kafkajs, or new KafkajsTransport(...)), which runs on Kafka 2.8 and newer',
    { retriable: false },
  );
}
