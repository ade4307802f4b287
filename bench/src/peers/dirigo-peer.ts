// The Dirigo side of the peers benchmark, as its own process (so that its CPU time is its own): one worker running
// the count or the passthrough app of bench/src/apps.ts until SIGTERM. Configuration from the environment:
// PEER_BROKERS, PEER_TRANSPORT (kafkajs | platformatic), PEER_NS, PEER_INPUT, PEER_OUTPUT, PEER_MODE (count |
// count-persistent | passthrough), PEER_GUARANTEE (at_least_once | exactly_once), PEER_PARTITIONS (partitions run
// at once), PEER_STATE_DIR (the persistent store's directory, for count-persistent), PEER_VALUES (bytes: values
// handed on or ignored undecoded, as the other peers do; json: decoded and encoded as JSON).
import { createLogger } from '@dirigo/core';
import { runWorkerProcess, type TransportName } from '@dirigo/runtime/process';
import { countApp, passthroughApp, passthroughBytesApp } from '../apps.ts';

const env = (name: string): string => {
  const v = process.env[name];
  if (v === undefined || v === '') throw new Error(`dirigo-peer: ${name} is not set`);
  return v;
};

const ns = env('PEER_NS');
const mode = env('PEER_MODE');
const guarantee = env('PEER_GUARANTEE') === 'exactly_once' ? 'exactly_once' : 'at_least_once';
const values = env('PEER_VALUES') === 'json' ? 'json' : 'bytes';
const app =
  mode === 'passthrough'
    ? values === 'json'
      ? passthroughApp(ns, env('PEER_INPUT'), env('PEER_OUTPUT'))
      : passthroughBytesApp(ns, env('PEER_INPUT'), env('PEER_OUTPUT'), true)
    : countApp(
        ns,
        env('PEER_INPUT'),
        env('PEER_OUTPUT'),
        guarantee,
        mode === 'count-persistent' ? { stateDir: env('PEER_STATE_DIR') } : undefined,
        values,
      );

await runWorkerProcess({
  apps: [app],
  brokers: env('PEER_BROKERS'),
  transport: env('PEER_TRANSPORT') as TransportName,
  workerId: `${ns}-worker`,
  controlTopic: `${ns}.control`,
  concurrency: Number(env('PEER_PARTITIONS')),
  logger: createLogger({ level: process.env.DIRIGO_LOG_LEVEL ?? 'warn' }),
  exitWithParent: true,
});
