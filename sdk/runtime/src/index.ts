// Public exports of @dirigo/runtime, chosen by hand.
export { type Clock, systemClock } from './clock.ts';
export { AppStoppedError } from './errors.ts';
export {
  H_APP,
  H_DEADLINE,
  H_ERROR,
  H_ERROR_CLASS,
  H_ERROR_STAGE,
  H_FUNCTION,
  H_INGEST,
  H_ORIGIN_OFFSET,
  H_ORIGIN_PARTITION,
  H_ORIGIN_TOPIC,
  H_PRIORITY,
  headerNumber,
  headerString,
} from './headers.ts';
export { pendingRecords } from './lag.ts';
export { type AppStats, type AppStatus, Worker, type WorkerOptions, type WorkerState } from './worker.ts';
// `runWorkerProcess` and `loadApps` (they bring the kafkajs transport) are in `@dirigo/runtime/process`.
