// Avro serdes in the Confluent wire format. Decoding and encoding stay synchronous: `open()` (run when a worker
// starts) registers or looks up the writer schema, and `prepare(data)` (run before a step) fetches the writer
// schema of an id it has not seen, once per id, and builds the writer-to-reader resolver (schema evolution).
// A record whose id the registry does not know, or whose writer schema cannot be read with the reader schema,
// fails to decode with a SerdeError naming the reason: the app's error policy then dead-letters it.
import { type KeySerde, type Serde, SerdeError } from '@dirigo/core';
import avsc, { type Schema, type Type } from 'avsc';
import { type ConfluentRegistryOptions, confluentRegistry, type RegistryClient } from './registry.ts';
import { frame, HEADER_BYTES, notFramed, schemaIdOf } from './wire.ts';

/** Options of `avro()` and `avroKey()`. */
export interface AvroOptions {
  /** The app's schema: the reader schema when decoding, the writer schema when encoding. */
  readonly schema: Schema;
  /**
   * The registry: a client (`confluentRegistry(...)`, `new MemoryRegistry()`), or the options of one. Default:
   * the Confluent API at env `SCHEMA_REGISTRY_URL`, read when the serde is first opened or prepared.
   */
  readonly registry?: RegistryClient | ConfluentRegistryOptions;
  /**
   * Subject of the writer schema, e.g. `bids-value` (Confluent's TopicNameStrategy: `<topic>-value` /
   * `<topic>-key`). Without it the serde only decodes (its `serialize` throws).
   */
  readonly subject?: string;
  /**
   * At open, register `schema` under `subject` (default true, like `auto.register.schemas`); false: look up
   * its id there (it must be registered already, e.g. by a CI step).
   */
  readonly autoRegister?: boolean;
  /** How long an id the registry did not know stays unknown before it is asked again, in ms. Default 30000. */
  readonly unknownIdTtlMs?: number;
}

/** An Avro serde's extra surface: the writer schema id once opened (tests and tools read it). */
export interface AvroSerde<T> extends Serde<T> {
  open(): Promise<void>;
  prepare(data: Buffer): Promise<void> | undefined;
  /** The id of `schema` under `subject`, known after `open()`; undefined before, or without a subject. */
  readonly schemaId: number | undefined;
  /** The avsc type of the reader/writer schema. */
  readonly type: Type;
}

/** What decoding a writer schema id needs, or why it cannot be decoded (until `until`). */
type Reader =
  | { readonly ok: true; readonly resolver: ReturnType<Type['createResolver']> | undefined }
  | { readonly ok: false; readonly reason: string; readonly until: number };

/**
 * Avro record values in the Confluent wire format, with a Schema Registry.
 *
 * ```ts
 * const bids = avro<Bid>({ schema: BID_SCHEMA, subject: 'bids-value' }); // registry at SCHEMA_REGISTRY_URL
 * defineApp({ ingresses: [{ topic: 'bids', to: 'count', serde: bids }], ... });
 * ```
 * Records written with another (older or newer) schema of the subject are read as `schema` through Avro schema
 * resolution (added fields take their defaults, removed fields are dropped).
 */
export function avro<T = unknown>(options: AvroOptions): AvroSerde<T> {
  return new AvroCodec<T>(options);
}

/**
 * Avro record keys in the Confluent wire format, as a key serde: `ctx.key` is the key as text (a `string`
 * schema's value itself, otherwise the value's JSON text as avsc writes it, e.g. `42` or `{"id":7}`). The actor
 * is the exact key bytes, schema id included: keep one key schema per topic, or a key written under a new
 * schema id is a different actor (and, for Java producers, a different partition).
 */
export function avroKey(
  options: AvroOptions,
): KeySerde & Pick<AvroSerde<string>, 'open' | 'prepare' | 'schemaId'> {
  const codec = new AvroCodec<unknown>(options);
  const plain = codec.type.typeName === 'string';
  return {
    name: `${codec.name} key`,
    open: () => codec.open(),
    prepare: (data) => codec.prepare(data),
    get schemaId() {
      return codec.schemaId;
    },
    serialize: (key) => {
      let value: unknown = key;
      if (!plain) {
        try {
          value = codec.type.fromString(key);
        } catch (e) {
          throw new SerdeError(`${codec.name} key: '${key}' is not the JSON text of a key of the schema`, {
            cause: e,
          });
        }
      }
      return codec.serialize(value);
    },
    deserialize: (data) => {
      const value = codec.deserialize(data);
      return plain ? (value as string) : codec.type.toString(value);
    },
  };
}

class AvroCodec<T> implements AvroSerde<T> {
  readonly name: string;
  readonly type: Type;
  private readonly options: AvroOptions;
  private client: RegistryClient | undefined;
  private id: number | undefined;
  private opening: Promise<void> | undefined;
  private readonly readers = new Map<number, Reader>();
  private readonly pending = new Map<number, Promise<void>>();

  constructor(options: AvroOptions) {
    this.options = options;
    try {
      this.type = avsc.Type.forSchema(options.schema);
    } catch (e) {
      throw new SerdeError(`avro: invalid schema (${(e as Error).message})`, { cause: e });
    }
    this.name = `avro(${options.subject ?? this.type.name ?? this.type.typeName})`;
  }

  get schemaId(): number | undefined {
    return this.id;
  }

  private registry(): RegistryClient {
    if (this.client !== undefined) return this.client;
    const r = this.options.registry;
    this.client = r !== undefined && 'schemaById' in r ? r : confluentRegistry(r ?? {});
    return this.client;
  }

  open(): Promise<void> {
    const subject = this.options.subject;
    if (subject === undefined || this.id !== undefined) return Promise.resolve();
    this.opening ??= (async () => {
      const registry = this.registry();
      const register = this.options.autoRegister ?? true;
      try {
        this.id = register
          ? await registry.register(subject, this.options.schema)
          : await registry.lookup(subject, this.options.schema);
      } catch (e) {
        this.opening = undefined;
        throw new SerdeError(
          `${this.name}: could not ${register ? 'register' : 'find'} the schema under subject '${subject}' at ${registry.url}: ${(e as Error).message}${register ? '' : ' (register it first, or set autoRegister: true)'}`,
          { cause: e },
        );
      }
      this.readers.set(this.id, { ok: true, resolver: undefined });
    })();
    return this.opening;
  }

  prepare(data: Buffer): Promise<void> | undefined {
    const id = schemaIdOf(data);
    if (id === undefined) return undefined; // deserialize says why
    const known = this.readers.get(id);
    if (known !== undefined && (known.ok || known.until > Date.now())) return undefined;
    let p = this.pending.get(id);
    if (p === undefined) {
      p = this.fetch(id).finally(() => this.pending.delete(id));
      this.pending.set(id, p);
    }
    return p;
  }

  private async fetch(id: number): Promise<void> {
    const registry = this.registry();
    const writer = await registry.schemaById(id); // rejects when unreachable: the step is retried
    const until = Date.now() + (this.options.unknownIdTtlMs ?? 30_000);
    if (writer === undefined) {
      this.readers.set(id, {
        ok: false,
        reason: `schema id ${id} is not in the registry at ${registry.url}`,
        until,
      });
      return;
    }
    try {
      const type = avsc.Type.forSchema(writer);
      const same = type.fingerprint().equals(this.type.fingerprint());
      this.readers.set(id, { ok: true, resolver: same ? undefined : this.type.createResolver(type) });
    } catch (e) {
      this.readers.set(id, {
        ok: false,
        reason: `the writer schema id ${id} cannot be read with the reader schema (${(e as Error).message})`,
        until,
      });
    }
  }

  serialize(value: T): Buffer {
    if (this.id === undefined) {
      throw new SerdeError(
        this.options.subject === undefined
          ? `${this.name}: this serde has no subject, so it only decodes; give it a subject to write`
          : `${this.name}: not opened yet (workers open their serdes at start; call \`await serde.open()\` first)`,
      );
    }
    let body: Buffer;
    try {
      body = this.type.toBuffer(value);
    } catch (e) {
      throw new SerdeError(
        `${this.name}: the value does not match the schema (${this.invalidPaths(value) || (e as Error).message})`,
        {
          cause: e,
        },
      );
    }
    return frame(this.id, body);
  }

  deserialize(data: Buffer): T {
    const id = schemaIdOf(data);
    if (id === undefined) throw notFramed(this.name, data);
    const reader = this.readers.get(id);
    if (reader === undefined) {
      throw new SerdeError(
        `${this.name}: schema id ${id} was not fetched (prepare() did not run for this record)`,
      );
    }
    if (!reader.ok) throw new SerdeError(`${this.name}: ${reader.reason}`);
    try {
      return this.type.fromBuffer(data.subarray(HEADER_BYTES), reader.resolver, false) as T;
    } catch (e) {
      throw new SerdeError(
        `${this.name}: cannot decode ${data.length} bytes written with schema id ${id} (${(e as Error).message})`,
        {
          cause: e,
        },
      );
    }
  }

  private invalidPaths(value: unknown): string {
    const paths: string[] = [];
    this.type.isValid(value, {
      errorHook: (path, v, type) =>
        paths.push(
          `${path.join('.') || '(root)'}: ${JSON.stringify(v) ?? 'undefined'} is not ${type.typeName}`,
        ),
    });
    return paths.slice(0, 5).join('; ');
  }
}
