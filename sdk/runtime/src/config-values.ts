// Parsing and checking of configuration values that arrive as text (command-line flags, environment variables)
// or as untyped options: every bad value becomes a ConfigError naming where it came from (`--brokers`,
// `KAFKA_BROKERS`, `sessionTimeoutMs`) and how to fix it, before anything connects to Kafka.
import { ConfigError } from '@dirigo/core';

/** pino's levels, the values `--log-level` and `DIRIGO_LOG_LEVEL` accept. */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

/** The Kafka clients a worker process can use, the values `--transport` and `DIRIGO_TRANSPORT` accept. */
export const TRANSPORTS = ['kafkajs', 'platformatic'] as const;
export type TransportName = (typeof TRANSPORTS)[number];
/** The transport a worker process uses unless told otherwise (see docs/operations.md, "Transports"). */
export const DEFAULT_TRANSPORT: TransportName = 'platformatic';

/** Kafka's request fields for timeouts are int32 milliseconds. */
export const MAX_INT32 = 2_147_483_647;

const show = (raw: string): string => JSON.stringify(raw.length > 80 ? `${raw.slice(0, 80)}…` : raw);

/**
 * A comma-separated list of bootstrap servers, each `host:port` (`[v6-address]:port` for IPv6), port 1-65535.
 * Blank entries are ignored; an empty list is an error.
 */
export function parseBrokers(raw: string, source: string): string[] {
  const entries = raw
    .split(',')
    .map((b) => b.trim())
    .filter((b) => b.length > 0);
  if (entries.length === 0) {
    throw new ConfigError(
      source,
      `no broker in ${show(raw)}; give host:port[,host:port...], e.g. localhost:9092`,
    );
  }
  for (const entry of entries) {
    const m = /^(\[[0-9A-Fa-f:.]+\]|[^\s:[\]/]+):([0-9]+)$/.exec(entry);
    if (m === null) {
      const hint = /^[^\s:/]+$/.test(entry)
        ? `add the port, e.g. ${entry}:9092`
        : 'write host:port, e.g. localhost:9092 (IPv6: [::1]:9092)';
      throw new ConfigError(source, `${show(entry)} is not host:port; ${hint}`);
    }
    const port = Number(m[2]);
    if (!Number.isInteger(port) || port < 1 || port > 65_535) {
      throw new ConfigError(source, `${show(entry)} has port ${m[2]}; a port is an integer from 1 to 65535`);
    }
  }
  return entries;
}

/** An integer in [min, max] written in decimal. `example` shows a good value in the message. */
export function parseInteger(raw: string, source: string, min: number, max: number, example: string): number {
  const n = /^-?[0-9]+$/.test(raw.trim()) ? Number(raw.trim()) : Number.NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new ConfigError(source, `${show(raw)} is not an integer from ${min} to ${max}; e.g. ${example}`);
  }
  return n;
}

/** One of the transport names (`TRANSPORTS`). */
export function parseTransportName(raw: string, source: string): TransportName {
  if ((TRANSPORTS as readonly string[]).includes(raw)) return raw as TransportName;
  throw new ConfigError(source, `${show(raw)} is not a transport; use one of ${TRANSPORTS.join(', ')}`);
}

/** The consumer group protocols: `classic` (eager) and KIP-848's `consumer` (incremental, platformatic only). */
export const GROUP_PROTOCOLS = ['classic', 'consumer'] as const;
export type GroupProtocolName = (typeof GROUP_PROTOCOLS)[number];

/** A consumer group protocol name. */
export function parseGroupProtocol(raw: string, source: string): GroupProtocolName {
  if ((GROUP_PROTOCOLS as readonly string[]).includes(raw)) return raw as GroupProtocolName;
  throw new ConfigError(
    source,
    `${show(raw)} is not a group protocol; use one of ${GROUP_PROTOCOLS.join(', ')}`,
  );
}

/** Exactly-once protocol versions: `v1` (a transactional producer per input partition), `v2` (KIP-447). */
export const EXACTLY_ONCE_VERSIONS = ['v1', 'v2'] as const;
export type ExactlyOnceVersion = (typeof EXACTLY_ONCE_VERSIONS)[number];

/** An exactly-once protocol version. */
export function parseExactlyOnceVersion(raw: string, source: string): ExactlyOnceVersion {
  if ((EXACTLY_ONCE_VERSIONS as readonly string[]).includes(raw)) return raw as ExactlyOnceVersion;
  throw new ConfigError(
    source,
    `${show(raw)} is not an exactly-once version; use ${EXACTLY_ONCE_VERSIONS.join(' or ')} (v2 needs the platformatic transport on the classic group protocol)`,
  );
}

/** `on` or `off` (a switch given as a flag or an environment variable). */
export function parseOnOff(raw: string, source: string): boolean {
  if (raw === 'on') return true;
  if (raw === 'off') return false;
  throw new ConfigError(source, `${show(raw)} is not a switch; use on or off`);
}

/** One of pino's log levels. */
export function parseLogLevel(raw: string, source: string): string {
  if ((LOG_LEVELS as readonly string[]).includes(raw)) return raw;
  throw new ConfigError(source, `${show(raw)} is not a log level; use one of ${LOG_LEVELS.join(', ')}`);
}

/** A TCP port: 0 (any free port) when `allowZero`, else 1-65535. */
export function parsePort(raw: string, source: string, allowZero: boolean): number {
  return parseInteger(raw, source, allowZero ? 0 : 1, 65_535, `${source} 9464`);
}

/** A host name or IP address to listen on (no port, no spaces). */
export function checkHost(host: string, source: string): string {
  if (!/^(\[[0-9A-Fa-f:.]+\]|[0-9A-Fa-f:.]*:[0-9A-Fa-f:.]*|[A-Za-z0-9._-]+)$/.test(host)) {
    throw new ConfigError(
      source,
      `${show(host)} is not a host name or IP address; e.g. 127.0.0.1 (this machine only) or 0.0.0.0 (every interface)`,
    );
  }
  return host.startsWith('[') ? host.slice(1, -1) : host;
}

/** A Kafka topic name: 1-249 of A-Z a-z 0-9 . _ - (and not `.` or `..`). */
export function checkTopicName(raw: string, source: string): string {
  if (!/^[A-Za-z0-9._-]{1,249}$/.test(raw) || raw === '.' || raw === '..') {
    throw new ConfigError(
      source,
      `${show(raw)} is not a Kafka topic name (1-249 of A-Z a-z 0-9 . _ -); e.g. dirigo.control`,
    );
  }
  return raw;
}

/** A JSON object (not an array, not null). */
export function parseJsonObject(raw: string, source: string, example: string): Record<string, unknown> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch (e) {
    throw new ConfigError(source, `not JSON (${(e as Error).message}); e.g. '${example}'`);
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    throw new ConfigError(source, `must be a JSON object, e.g. '${example}'`);
  }
  return parsed as Record<string, unknown>;
}

/** A non-empty path. */
export function checkPath(raw: string, source: string): string {
  if (raw.trim().length === 0 || raw.includes('\0')) {
    throw new ConfigError(source, `${show(raw)} is not a path; give a file path, e.g. /tmp/dirigo-ready`);
  }
  return raw;
}

/**
 * Checks a numeric option given in code: an integer in [min, max] (undefined passes). Used for the
 * `WorkerOptions` that arrive untyped from JavaScript or from a config file.
 */
export function checkIntOption(value: unknown, field: string, min: number, max: number): void {
  if (value === undefined) return;
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min || value > max) {
    throw new ConfigError(
      field,
      `${typeof value === 'number' ? String(value) : JSON.stringify(value)} is not an integer from ${min} to ${max}`,
    );
  }
}
