// Public exports of @dirigo/local-kafka, chosen by hand.
export {
  assertPortsFree,
  type KafkaCluster,
  type KafkaNodeInfo,
  type StartKafkaOptions,
  type StartNodeOptions,
  startKafka,
} from './cluster.ts';
export {
  bootstrapServers,
  brokerProperties,
  DEFAULT_BASE_PORT,
  DEFAULT_KAFKA_VERSION,
  type NodeCount,
  type NodePorts,
  nodePorts,
} from './config.ts';
export { type ContainerKafka, dockerAvailable, kafkaImage, startWithTestcontainers } from './docker.ts';
export {
  type EnsuredKafka,
  type EnsureKafkaOptions,
  ensureKafka,
  type KafkaSource,
  parseBrokers,
} from './ensure.ts';
export { cachedKafka, fetchKafka, fetchKafkaTools, type KafkaDistribution } from './fetch.ts';
export { cacheRoot, repoRoot } from './paths.ts';
export { describeCluster, freeBasePort, waitReady } from './probe.ts';
export {
  CCOMPAT_PATH,
  DEFAULT_REGISTRY_PORT,
  DEFAULT_REGISTRY_VERSION,
  type EnsuredRegistry,
  ensureRegistry,
  fetchRegistry,
  type RegistryProcess,
  registryAnswers,
  runningRegistry,
  type StartRegistryOptions,
  startRegistry,
} from './registry.ts';
export {
  LOCAL_CLIENT_CERT_PRINCIPAL,
  LOCAL_RESTRICTED_USER,
  type LocalCredentials,
  type LocalSecurity,
  type SecurityMode,
} from './secure-config.ts';
export { type ClusterStatus, readStatus, runningCluster } from './status.ts';
export { hasMaven, javaVersion } from './tools.ts';
