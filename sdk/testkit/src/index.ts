// Public exports of @dirigo/testkit: the in-memory Kafka and its transport, the test driver with its test
// clock, condition-based wait helpers and a seeded PRNG. The transport contract suite (it imports vitest) is the separate
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
export { seededRandom } from './random.ts';
export { type WaitOptions, waitFor, waitForValue } from './wait.ts';
