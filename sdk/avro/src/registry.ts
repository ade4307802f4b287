// Where schemas live: a Schema Registry speaking the Confluent REST API (Confluent, Apicurio's `ccompat`,
// Redpanda, Karapace), reached through @kafkajs/confluent-schema-registry, or an in-memory one for tests on the
// TestDriver. The serdes only need these three calls.
import { SchemaRegistry } from '@kafkajs/confluent-schema-registry';
import type { Schema } from 'avsc';

/** The calls an Avro serde makes to a schema registry. */
export interface RegistryClient {
  /** Where it is, for error messages. */
  readonly url: string;
  /** Registers `schema` under `subject` (or finds it already registered there) and returns its id. */
  register(subject: string, schema: Schema): Promise<number>;
  /** The id of `schema` under `subject`; rejects when it is not registered there. */
  lookup(subject: string, schema: Schema): Promise<number>;
  /**
   * The schema with this id, or `undefined` when the registry answers that it has none (the record then cannot
   * be decoded). Rejects when the registry cannot be asked (unreachable, 5xx): the step is retried.
   */
  schemaById(id: number): Promise<Schema | undefined>;
}

export interface ConfluentRegistryOptions {
  /**
   * Base URL of the Confluent API, e.g. `http://localhost:8081` (Confluent) or
   * `http://localhost:8080/apis/ccompat/v7` (Apicurio). Default: env `SCHEMA_REGISTRY_URL`.
   */
  readonly url?: string;
  /** Basic auth. */
  readonly auth?: { readonly username: string; readonly password: string };
  /** Retries of one request (default 3, from 100 ms up to 5 s). */
  readonly retries?: number;
}

/** The registry URL: the option, else env `SCHEMA_REGISTRY_URL`; throws with what to do when neither is set. */
export function registryUrl(url?: string): string {
  const u = url ?? process.env.SCHEMA_REGISTRY_URL;
  if (u === undefined || u.trim() === '') {
    throw new Error(
      'no schema registry: pass { url } or set SCHEMA_REGISTRY_URL (`npm run registry -- start` runs a local one)',
    );
  }
  return u.trim().replace(/\/+$/, '');
}

/**
 * A client of a registry with the Confluent REST API. Schemas by id come through
 * @kafkajs/confluent-schema-registry (its retries and cache); registering and looking up go straight to the REST
 * API, because that client refuses schemas without a name (a `long` or `string` key schema).
 */
export function confluentRegistry(options: ConfluentRegistryOptions = {}): RegistryClient {
  const url = registryUrl(options.url);
  const client = new SchemaRegistry({
    host: url,
    clientId: 'dirigo',
    ...(options.auth === undefined ? {} : { auth: { ...options.auth } }),
    ...(options.retries === undefined ? {} : { retry: { retries: options.retries } }),
  });
  const headers: Record<string, string> = { 'Content-Type': 'application/vnd.schemaregistry.v1+json' };
  if (options.auth !== undefined) {
    headers.Authorization = `Basic ${Buffer.from(`${options.auth.username}:${options.auth.password}`).toString('base64')}`;
  }
  const post = async (path: string, schema: Schema): Promise<number> => {
    const res = await fetch(`${url}${path}`, {
      method: 'POST',
      headers,
      body: JSON.stringify({ schema: JSON.stringify(schema) }),
      signal: AbortSignal.timeout(30_000),
    });
    const body = (await res.json().catch(() => ({}))) as {
      id?: number;
      message?: string;
      error_code?: number;
    };
    if (!res.ok || typeof body.id !== 'number') {
      throw new Error(
        `POST ${path}: ${res.status} ${body.message ?? res.statusText}${body.error_code ? ` (error ${body.error_code})` : ''}`,
      );
    }
    return body.id;
  };
  const subject = (s: string) => `/subjects/${encodeURIComponent(s)}`;
  return {
    url,
    register: (s, schema) => post(`${subject(s)}/versions`, schema),
    lookup: (s, schema) => post(subject(s), schema),
    schemaById: async (id) => {
      try {
        // An avsc Type (the client parses it); its schema, with every attribute, is what the serde re-parses.
        const type = (await client.getSchema(id)) as unknown as { schema(o: object): Schema };
        return type.schema({ exportAttrs: true });
      } catch (e) {
        // mappersmith reports a refused connection as status 400: only 404 means "no such schema".
        if ((e as { status?: number }).status === 404) return undefined;
        throw e;
      }
    },
  };
}

/**
 * A registry in memory, for tests without a registry (the TestDriver). Ids count from 1 in registration order,
 * shared by all subjects like a real registry; registering an identical schema again returns its id.
 */
export class MemoryRegistry implements RegistryClient {
  readonly url = 'memory:';
  private readonly byId = new Map<number, Schema>();
  private readonly bySubject = new Map<string, Map<string, number>>();
  private readonly ids = new Map<string, number>();
  /** Requests answered so far (tests use it to check caching). */
  requests = 0;

  async register(subject: string, schema: Schema): Promise<number> {
    this.requests++;
    const text = JSON.stringify(schema);
    let id = this.ids.get(text);
    if (id === undefined) {
      id = this.ids.size + 1;
      this.ids.set(text, id);
      this.byId.set(id, JSON.parse(text) as Schema);
    }
    let versions = this.bySubject.get(subject);
    if (versions === undefined) {
      versions = new Map();
      this.bySubject.set(subject, versions);
    }
    versions.set(text, id);
    return id;
  }

  async lookup(subject: string, schema: Schema): Promise<number> {
    this.requests++;
    const id = this.bySubject.get(subject)?.get(JSON.stringify(schema));
    if (id === undefined)
      throw new Error(`memory registry: schema not registered under subject '${subject}'`);
    return id;
  }

  async schemaById(id: number): Promise<Schema | undefined> {
    this.requests++;
    return this.byId.get(id);
  }
}
