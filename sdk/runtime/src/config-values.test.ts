import { ConfigError } from '@dirigo/core';
import { describe, expect, it } from 'vitest';
import {
  checkHost,
  checkIntOption,
  checkTopicName,
  parseBrokers,
  parseInteger,
  parseJsonObject,
  parseLogLevel,
} from './config-values.ts';

describe('configuration values', () => {
  it('broker lists: host:port entries with valid ports, IPv6 in brackets, blanks ignored', () => {
    expect(parseBrokers('a:9092, b.example.com:19092,,[::1]:9092 ', 'x')).toEqual([
      'a:9092',
      'b.example.com:19092',
      '[::1]:9092',
    ]);
    for (const bad of ['a', 'a:', ':9092', 'a:0', 'a:65536', 'a:9092:1', 'http://a:9092', 'a b:1', '']) {
      expect(() => parseBrokers(bad, '--brokers'), bad).toThrow(ConfigError);
    }
    expect(() => parseBrokers('kafka', 'KAFKA_BROKERS')).toThrow(
      'KAFKA_BROKERS: "kafka" is not host:port; add the port, e.g. kafka:9092',
    );
  });

  it('integers: decimal only, within bounds', () => {
    expect(parseInteger('10000', '--x', 1, 20_000, 'e')).toBe(10_000);
    for (const bad of ['abc', '', '1.5', '1e3', '0x10', '20001', '0', ' ', 'NaN', 'Infinity']) {
      expect(() => parseInteger(bad, '--x', 1, 20_000, '--x 10'), bad).toThrow(
        /^--x: .* is not an integer from 1 to 20000; e\.g\. --x 10$/,
      );
    }
  });

  it('log levels, hosts, topics, JSON objects', () => {
    expect(parseLogLevel('debug', 'x')).toBe('debug');
    expect(() => parseLogLevel('verbose', '--log-level')).toThrow(
      '--log-level: "verbose" is not a log level',
    );
    for (const h of ['127.0.0.1', '0.0.0.0', 'localhost', '::', '::1', '[::1]', 'my-host.internal']) {
      expect(() => checkHost(h, 'h'), h).not.toThrow();
    }
    expect(checkHost('[::1]', 'h')).toBe('::1');
    for (const h of ['', 'a b', 'host:9464', 'http://x'])
      expect(() => checkHost(h, 'h'), h).toThrow(ConfigError);
    expect(checkTopicName('dirigo.control', 't')).toBe('dirigo.control');
    for (const t of ['', '.', '..', 'a b', 'a/b', 'x'.repeat(250)])
      expect(() => checkTopicName(t, 't')).toThrow();
    expect(parseJsonObject('{"a":1}', 'j', '{}')).toEqual({ a: 1 });
    for (const j of ['[]', 'null', '1', '{']) expect(() => parseJsonObject(j, 'j', '{}')).toThrow(/^j: /);
  });

  it('numeric options given in code', () => {
    expect(() => checkIntOption(undefined, 'n', 0, 1)).not.toThrow();
    expect(() => checkIntOption(1, 'n', 0, 1)).not.toThrow();
    for (const bad of [Number.NaN, -1, 2, 0.5, '1', null]) {
      expect(() => checkIntOption(bad, 'n', 0, 1), String(bad)).toThrow(
        /^n: .* is not an integer from 0 to 1$/,
      );
    }
  });
});
