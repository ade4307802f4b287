// Public exports of the data-plane scheduler, chosen by hand (the worker integrates it). Internal: queue.ts,
// window.ts, accounting.ts, policy-guard.ts, sim.ts (test support). prometheus.ts is separate because it needs
// prom-client.
export { Dispatcher } from './dispatcher.ts';
export {
  DispatcherClosedError,
  type DispatcherOptions,
  type DispatcherStats,
  type SubmitOptions,
} from './dispatcher-options.ts';
export { type HistogramSummary, LogHistogram } from './histogram.ts';
export {
  type AppMetricsSink,
  type AppSnapshot,
  type ArrivalOutcome,
  InMemorySchedulerMetrics,
  type InMemorySchedulerMetricsOptions,
  noopSchedulerMetrics,
  type QueueSample,
  type SchedulerMetrics,
  type SchedulerSnapshot,
  type WorkerSample,
} from './metrics.ts';
export { type EdfPolicyOptions, edfPolicy } from './policies/edf.ts';
export { fifoPolicy } from './policies/fifo.ts';
export { costAhead, type LaxityPolicyOptions, laxityPolicy } from './policies/laxity.ts';
export { type PriorityPolicyOptions, priorityPolicy } from './policies/priority.ts';
export {
  DEFAULT_CLASS_WEIGHTS,
  type WeightedFairPolicyOptions,
  weightedFairPolicy,
} from './policies/weighted-fair.ts';
export {
  BUILTIN_POLICIES,
  createPolicy,
  registeredPolicies,
  registerPolicy,
  unregisterPolicy,
} from './registry.ts';
export type {
  ArrivalDecision,
  CompletionInfo,
  PeerLoad,
  PolicyFactory,
  PolicyOptions,
  QueueView,
  ScheduledMessage,
  SchedulingPolicy,
  SendDecision,
  SendTarget,
  WorkerView,
} from './types.ts';
