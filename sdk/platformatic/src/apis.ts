// Low-level API versions: the transport sends some requests through the client's API functions (Fetch,
// OffsetCommit), and picks the newest version both the brokers and the client speak.
import { DirigoError } from '@dirigo/core';

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
