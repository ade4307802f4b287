// Pure configuration: ports, broker properties, log4j2 properties, the fetch pom, cluster ids and JVM options.
// Nothing here touches the file system or spawns anything, so all of it is unit-tested.
import { randomBytes } from 'node:crypto';

/** The Kafka version fetched from Maven Central when none is asked for. */
export const DEFAULT_KAFKA_VERSION = '4.2.2';
/** Version of the log4j2 SLF4J binding added to the classpath (Kafka core has it only as a test dependency). */
export const LOG4J_VERSION = '2.25.3';
/**
 * Kafka 4.x still depends on slf4j-api 1.7, which does not find SLF4J 2 bindings (they register through a
 * ServiceLoader): without a newer API on the classpath the broker logs nothing.
 */
export const SLF4J_VERSION = '2.0.17';
/** PLAINTEXT port of node 1; node i listens on basePort + (i-1)*10000, its controller on the port after. */
export const DEFAULT_BASE_PORT = 19092;
export const HOST = '127.0.0.1';
export const PORT_STRIDE = 10_000;

export type NodeCount = 1 | 3;

export interface NodePorts {
  readonly id: number;
  /** PLAINTEXT listener, the one clients use. */
  readonly port: number;
  /** CONTROLLER listener (KRaft quorum). */
  readonly controllerPort: number;
}

/** Ports of every node of a cluster of `nodes` nodes. Throws on a layout that leaves the valid port range. */
export function nodePorts(nodes: NodeCount, basePort = DEFAULT_BASE_PORT): NodePorts[] {
  if (nodes !== 1 && nodes !== 3) throw new Error(`nodes must be 1 or 3, got ${String(nodes)}`);
  if (!Number.isInteger(basePort) || basePort < 1024) {
    throw new Error(`basePort must be an integer of at least 1024, got ${String(basePort)}`);
  }
  const result: NodePorts[] = [];
  for (let id = 1; id <= nodes; id++) result.push(slotPorts(id, basePort));
  return result;
}

/** The ports of node `id` (its slot: basePort + (id-1)*10000 and the port after). Throws past port 65535. */
export function slotPorts(id: number, basePort: number): NodePorts {
  const port = basePort + (id - 1) * PORT_STRIDE;
  if (port + 1 > 65_535) {
    throw new Error(`basePort ${basePort} puts node ${id} on port ${port + 1}, above 65535`);
  }
  return { id, port, controllerPort: port + 1 };
}

/** `host:port,host:port` for the PLAINTEXT listeners. */
export function bootstrapServers(ports: readonly NodePorts[]): string {
  return ports.map((p) => `${HOST}:${p.port}`).join(',');
}

export interface BrokerConfigInput {
  readonly node: NodePorts;
  readonly all: readonly NodePorts[];
  /** Absolute path of the node's log directory (Kafka `log.dirs`). */
  readonly logDir: string;
  /** Extra or replacing properties. */
  readonly overrides?: Readonly<Record<string, string | number | boolean>>;
  /**
   * A broker of a ZooKeeper-based cluster (Kafka 3.x) registered at this `host:port`, instead of a combined KRaft
   * broker and controller.
   */
  readonly zookeeperConnect?: string;
  /**
   * KRaft: `combined` (default) a broker and a controller in one process, the quorum being `all`; `broker` a
   * broker only and `controller` a controller only, the quorum being `controllers` (dedicated controllers, as
   * production clusters run). `all` lists the brokers (it sets the replication factors).
   */
  readonly role?: 'combined' | 'broker' | 'controller';
  /** The controller quorum of a `broker` or `controller` node. */
  readonly controllers?: readonly NodePorts[];
}

/**
 * Properties of one combined broker+controller node of a static KRaft quorum (`controller.quorum.voters`,
 * formatted without --standalone). Replication settings follow the cluster size: 1 for one node; 3 with
 * min ISR 2 for three nodes. The rest keeps a test cluster small and quick on a 2-core machine.
 */
export function brokerProperties(input: BrokerConfigInput): Map<string, string> {
  const { node, all, logDir } = input;
  const rf = all.length;
  const minIsr = rf >= 3 ? 2 : 1;
  const role = input.role ?? 'combined';
  if (role !== 'combined' && (input.controllers === undefined || input.controllers.length === 0)) {
    throw new Error(`a ${role} node needs the controller quorum (controllers)`);
  }
  const quorum = role === 'combined' ? all : input.controllers!;
  const voters = quorum.map((n) => `${n.id}@${HOST}:${n.controllerPort}`).join(',');
  const listeners =
    role === 'combined'
      ? `PLAINTEXT://${HOST}:${node.port},CONTROLLER://${HOST}:${node.controllerPort}`
      : role === 'broker'
        ? `PLAINTEXT://${HOST}:${node.port}`
        : `CONTROLLER://${HOST}:${node.controllerPort}`;
  const metadata: [string, string | number | boolean][] =
    input.zookeeperConnect === undefined
      ? [
          ['process.roles', role === 'combined' ? 'broker,controller' : role],
          ['node.id', node.id],
          ['controller.quorum.voters', voters],
          ['listeners', listeners],
          ['controller.listener.names', 'CONTROLLER'],
          [
            'listener.security.protocol.map',
            role === 'controller' ? 'CONTROLLER:PLAINTEXT' : 'CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT',
          ],
        ]
      : [
          ['broker.id', node.id],
          ['zookeeper.connect', input.zookeeperConnect],
          ['listeners', `PLAINTEXT://${HOST}:${node.port}`],
          ['listener.security.protocol.map', 'PLAINTEXT:PLAINTEXT'],
        ];
  // A controller-only node has no client listener to advertise and no broker to talk to.
  const brokerSide: [string, string | number | boolean][] =
    role === 'controller'
      ? []
      : [
          ['advertised.listeners', `PLAINTEXT://${HOST}:${node.port}`],
          ['inter.broker.listener.name', 'PLAINTEXT'],
        ];
  const entries: [string, string | number | boolean][] = [
    ...metadata,
    ...brokerSide,
    ['log.dirs', logDir],
    // Replication: follows the cluster size.
    ['offsets.topic.replication.factor', rf],
    ['transaction.state.log.replication.factor', rf],
    ['transaction.state.log.min.isr', minIsr],
    ['default.replication.factor', rf],
    ['min.insync.replicas', minIsr],
    // Topics are created explicitly, with one partition unless asked otherwise.
    ['auto.create.topics.enable', false],
    ['num.partitions', 1],
    // Quick groups and transactions for tests.
    ['group.initial.rebalance.delay.ms', 0],
    ['group.min.session.timeout.ms', 1000],
    // KIP-848 groups (the `consumer` group protocol): their session timeout and heartbeat interval are the
    // broker's (defaults 45 s and 5 s, with the same minimums); quicker here so that tests see a frozen member go.
    ['group.consumer.min.session.timeout.ms', 6000],
    ['group.consumer.session.timeout.ms', 10_000],
    ['group.consumer.min.heartbeat.interval.ms', 500],
    ['group.consumer.heartbeat.interval.ms', 1000],
    ['transaction.abort.timed.out.transaction.cleanup.interval.ms', 1000],
    ['transaction.remove.expired.transaction.cleanup.interval.ms', 60_000],
    // A crashed (SIGKILLed) node can register again only once its old session expired (default 9 s);
    // a shorter session also fails partitions over sooner in fault tests.
    ['broker.heartbeat.interval.ms', 1000],
    ['broker.session.timeout.ms', 5000],
    // The internal topics default to 50 partitions each, slow to create on 2 cores.
    ['offsets.topic.num.partitions', 5],
    ['transaction.state.log.num.partitions', 5],
    // Fewer threads and buffers: a small machine runs up to three of these next to the tests.
    ['num.network.threads', 2],
    ['num.io.threads', 4],
    ['background.threads', 4],
    ['num.recovery.threads.per.data.dir', 1],
    ['num.replica.fetchers', 1],
    ['log.cleaner.threads', 1],
    ['log.cleaner.dedupe.buffer.size', 16 * 1024 * 1024],
    // Compaction tests should not wait 15 s between cleaner passes.
    ['log.cleaner.backoff.ms', 1000],
    // Time retention deletes records with old timestamps (event time, replays) within 2 s instead of up to
    // 5 minutes later, so that a test sees what a production broker would do to them eventually.
    ['log.retention.check.interval.ms', 2000],
  ];
  const props = new Map<string, string>();
  for (const [k, v] of entries) props.set(k, String(v));
  for (const [k, v] of Object.entries(input.overrides ?? {})) props.set(k, String(v));
  return props;
}

/** Java properties text; values here never need escaping beyond backslashes (Windows paths). */
export function toPropertiesText(props: ReadonlyMap<string, string>): string {
  const lines = ['# Written by @dirigo/local-kafka'];
  for (const [k, v] of props) lines.push(`${k}=${v.replaceAll('\\', '\\\\')}`);
  return `${lines.join('\n')}\n`;
}

/** Parses `key=value` lines (comments and blank lines skipped); the inverse of toPropertiesText for our files. */
export function parseProperties(text: string): Map<string, string> {
  const props = new Map<string, string>();
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith('!')) continue;
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    props.set(
      line.slice(0, eq).trim(),
      line
        .slice(eq + 1)
        .trim()
        .replaceAll('\\\\', '\\'),
    );
  }
  return props;
}

/** log4j2 configuration: WARN and above from every logger to one file (the broker is quiet otherwise). */
export function log4jProperties(logFile: string, level = 'WARN'): string {
  return [
    '# Written by @dirigo/local-kafka',
    'status = error',
    'name = dirigo-local-kafka',
    'appender.file.type = File',
    'appender.file.name = FILE',
    `appender.file.fileName = ${logFile.replaceAll('\\', '/')}`,
    'appender.file.layout.type = PatternLayout',
    'appender.file.layout.pattern = [%d] %p %m (%c)%n',
    `rootLogger.level = ${level}`,
    'rootLogger.appenderRef.file.ref = FILE',
    '',
  ].join('\n');
}

/** A pom (`artifactId`, `what` in its comment) whose runtime dependencies are `deps` ([groupId, artifactId, version]). */
function classpathPom(artifactId: string, what: string, version: string, deps: readonly string[][]): string {
  return [
    '<?xml version="1.0" encoding="UTF-8"?>',
    `<!-- Written by @dirigo/local-kafka: the runtime classpath of ${what}. -->`,
    '<project xmlns="http://maven.apache.org/POM/4.0.0">',
    '  <modelVersion>4.0.0</modelVersion>',
    '  <groupId>dev.dirigo.local</groupId>',
    `  <artifactId>${artifactId}</artifactId>`,
    `  <version>${version}</version>`,
    '  <packaging>pom</packaging>',
    '  <dependencies>',
    ...deps.map(
      ([g, a, v]) =>
        `    <dependency><groupId>${g}</groupId><artifactId>${a}</artifactId><version>${v}</version></dependency>`,
    ),
    '  </dependencies>',
    '</project>',
    '',
  ].join('\n');
}

/** A pom whose runtime dependencies are the broker's classpath. */
export function fetchPom(version: string): string {
  return classpathPom('kafka-broker-classpath', 'an Apache Kafka broker', version, [
    // Declared first so that it wins over Kafka's slf4j-api 1.7 (Maven takes the first of equal depth).
    ['org.slf4j', 'slf4j-api', SLF4J_VERSION],
    ['org.apache.kafka', 'kafka_2.13', version],
    ['org.apache.logging.log4j', 'log4j-slf4j2-impl', LOG4J_VERSION],
  ]);
}

/** A pom whose runtime dependencies are the classpath of Kafka's command-line tools (`kafka-tools`). */
export function toolsPom(version: string): string {
  return classpathPom('kafka-tools-classpath', "Apache Kafka's command-line tools", version, [
    ['org.slf4j', 'slf4j-api', SLF4J_VERSION],
    ['org.apache.kafka', 'kafka-tools', version],
    ['org.slf4j', 'slf4j-nop', SLF4J_VERSION],
  ]);
}

/** Arguments of `mvn` that copy the runtime classpath of the pom in the current directory into `libsDir`. */
export function mavenArgs(libsDir: string): string[] {
  return [
    '-q',
    '-B',
    '-Dstyle.color=never',
    'dependency:copy-dependencies',
    '-DincludeScope=runtime',
    `-DoutputDirectory=${libsDir}`,
  ];
}

/**
 * JVM options of a broker: a small heap and quick startup. Serial GC and C1 only (TieredStopAtLevel=1)
 * cut startup CPU on 2 cores; the heap is small since test clusters hold little data.
 */
export function jvmOptions(opts: { heap?: string; log4jFile: string }): string[] {
  const heap = opts.heap ?? '512m';
  return [
    `-Xmx${heap}`,
    '-Xms64m',
    '-XX:+UseSerialGC',
    '-XX:TieredStopAtLevel=1',
    '-XX:-UsePerfData',
    '-Xss512k',
    '-Djava.awt.headless=true',
    `-Dlog4j2.configurationFile=${opts.log4jFile}`,
  ];
}

/** A Kafka cluster id: 16 random bytes in URL-safe base64 without padding, like `kafka-storage random-uuid`. */
export function randomClusterId(): string {
  for (;;) {
    const id = randomBytes(16).toString('base64url');
    // Kafka rejects ids that start with '-' on its command lines; it also reserves the all-zero one.
    if (!id.startsWith('-') && id !== 'AAAAAAAAAAAAAAAAAAAAAA') return id;
  }
}

/** Major version from `java -version` output (`openjdk version "17.0.15"`, `java version "1.8.0_402"`). */
export function parseJavaVersion(output: string): number | undefined {
  const m = /version "(\d+)(?:\.(\d+))?[^"]*"/.exec(output);
  if (!m) return undefined;
  const major = Number(m[1]);
  return major === 1 && m[2] !== undefined ? Number(m[2]) : major;
}
