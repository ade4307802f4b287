// Public exports of @dirigo/testkit: the in-memory Kafka and its transport, the test driver with its test
// clock, and condition-based wait helpers. The transport contract suite (it imports vitest) is the separate
// entry point `@dirigo/testkit/contract`.

export {
  TestClock,
  TestDriver,
  type TestDriverOptions,
  type TestInput,
  type TestOutput,
} from './driver/test-driver.ts';
export type { AssignmentStrategy } from './memory/assignors.ts';
export { type Clock, MemoryKafka, type MemoryKafkaOptions } from './memory/kafka.ts';
export { MemoryTransport } from './memory/transport.ts';
export { type WaitOptions, waitFor, waitForValue } from './wait.ts';
