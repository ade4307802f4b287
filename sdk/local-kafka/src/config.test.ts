import { createServer, type Server } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { parseCliArgs } from './args.ts';
import { assertPortsFree, startKafka } from './cluster.ts';
import {
  bootstrapServers,
  brokerProperties,
  DEFAULT_BASE_PORT,
  DEFAULT_KAFKA_VERSION,
  fetchPom,
  jvmOptions,
  log4jProperties,
  mavenArgs,
  nodePorts,
  parseJavaVersion,
  parseProperties,
  randomClusterId,
  toolsPom,
  toPropertiesText,
} from './config.ts';
import { imageEnvironment } from './docker.ts';
import { parseBrokers } from './ensure.ts';

describe('nodePorts', () => {
  it('puts node i on basePort+(i-1)*10000 with the controller on the next port', () => {
    expect(nodePorts(1)).toEqual([{ id: 1, port: 19092, controllerPort: 19093 }]);
    expect(nodePorts(3)).toEqual([
      { id: 1, port: 19092, controllerPort: 19093 },
      { id: 2, port: 29092, controllerPort: 29093 },
      { id: 3, port: 39092, controllerPort: 39093 },
    ]);
    expect(nodePorts(3, 20000).map((p) => p.port)).toEqual([20000, 30000, 40000]);
    expect(bootstrapServers(nodePorts(3))).toBe('127.0.0.1:19092,127.0.0.1:29092,127.0.0.1:39092');
  });

  it('rejects bad layouts', () => {
    expect(() => nodePorts(2 as 1)).toThrow(/1 or 3/);
    expect(() => nodePorts(1, 80)).toThrow(/basePort/);
    expect(() => nodePorts(3, 50000)).toThrow(/65535/);
  });
});

describe('brokerProperties', () => {
  it('configures a broker of a ZooKeeper-based cluster without the KRaft roles', () => {
    const [node] = nodePorts(1, 5092);
    const p = brokerProperties({
      node: node!,
      all: [node!],
      logDir: '/data/node-1/kafka-logs',
      zookeeperConnect: '127.0.0.1:5093',
    });
    expect(p.get('broker.id')).toBe('1');
    expect(p.get('zookeeper.connect')).toBe('127.0.0.1:5093');
    expect(p.get('listeners')).toBe('PLAINTEXT://127.0.0.1:5092');
    expect(p.get('listener.security.protocol.map')).toBe('PLAINTEXT:PLAINTEXT');
    for (const kraft of ['process.roles', 'node.id', 'controller.quorum.voters', 'controller.listener.names'])
      expect(p.has(kraft)).toBe(false);
    expect(p.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:5092');
    expect(p.get('transaction.state.log.replication.factor')).toBe('1');
  });

  it('refuses a ZooKeeper-based cluster of Kafka 4, of three nodes or with security, naming the setting', async () => {
    await expect(startKafka({ version: '4.2.2', metadata: 'zookeeper' })).rejects.toThrow(
      "metadata 'zookeeper': Kafka 4.2.2 has no ZooKeeper mode (removed in 4.0); use a 3.x version",
    );
    await expect(startKafka({ version: '3.9.1', nodes: 3, metadata: 'zookeeper' })).rejects.toThrow(
      "metadata 'zookeeper': one node only (asked for 3)",
    );
    await expect(startKafka({ version: '3.9.1', security: true, metadata: 'zookeeper' })).rejects.toThrow(
      "metadata 'zookeeper': security is only set up on KRaft clusters",
    );
  });

  it('configures one combined node with replication 1', () => {
    const [node] = nodePorts(1);
    const p = brokerProperties({ node: node!, all: [node!], logDir: '/data/node-1/kafka-logs' });
    expect(p.get('process.roles')).toBe('broker,controller');
    expect(p.get('node.id')).toBe('1');
    expect(p.get('controller.quorum.voters')).toBe('1@127.0.0.1:19093');
    expect(p.get('listeners')).toBe('PLAINTEXT://127.0.0.1:19092,CONTROLLER://127.0.0.1:19093');
    expect(p.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:19092');
    expect(p.get('controller.listener.names')).toBe('CONTROLLER');
    expect(p.get('inter.broker.listener.name')).toBe('PLAINTEXT');
    expect(p.get('log.dirs')).toBe('/data/node-1/kafka-logs');
    expect(p.get('offsets.topic.replication.factor')).toBe('1');
    expect(p.get('transaction.state.log.replication.factor')).toBe('1');
    expect(p.get('transaction.state.log.min.isr')).toBe('1');
    expect(p.get('min.insync.replicas')).toBe('1');
    expect(p.get('group.initial.rebalance.delay.ms')).toBe('0');
    expect(p.get('auto.create.topics.enable')).toBe('false');
    expect(p.get('num.partitions')).toBe('1');
    // A dynamic quorum would need --standalone at format time: never mixed in.
    expect(p.has('controller.quorum.bootstrap.servers')).toBe(false);
  });

  it('configures three nodes with replication 3 and min ISR 2', () => {
    const all = nodePorts(3);
    const p = brokerProperties({ node: all[1]!, all, logDir: '/d' });
    expect(p.get('node.id')).toBe('2');
    expect(p.get('controller.quorum.voters')).toBe('1@127.0.0.1:19093,2@127.0.0.1:29093,3@127.0.0.1:39093');
    expect(p.get('listeners')).toBe('PLAINTEXT://127.0.0.1:29092,CONTROLLER://127.0.0.1:29093');
    expect(p.get('offsets.topic.replication.factor')).toBe('3');
    expect(p.get('transaction.state.log.replication.factor')).toBe('3');
    expect(p.get('default.replication.factor')).toBe('3');
    expect(p.get('transaction.state.log.min.isr')).toBe('2');
    expect(p.get('min.insync.replicas')).toBe('2');
  });

  it('configures brokers and a dedicated controller of their own quorum', () => {
    const brokers = nodePorts(3);
    const controller = { id: 4, port: 49092, controllerPort: 49093 };
    const b = brokerProperties({
      node: brokers[0]!,
      all: brokers,
      logDir: '/d',
      role: 'broker',
      controllers: [controller],
    });
    expect(b.get('process.roles')).toBe('broker');
    expect(b.get('controller.quorum.voters')).toBe('4@127.0.0.1:49093');
    expect(b.get('listeners')).toBe('PLAINTEXT://127.0.0.1:19092');
    expect(b.get('advertised.listeners')).toBe('PLAINTEXT://127.0.0.1:19092');
    expect(b.get('controller.listener.names')).toBe('CONTROLLER');
    expect(b.get('listener.security.protocol.map')).toBe('CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT');
    expect(b.get('offsets.topic.replication.factor')).toBe('3');
    const c = brokerProperties({
      node: controller,
      all: brokers,
      logDir: '/c',
      role: 'controller',
      controllers: [controller],
    });
    expect(c.get('process.roles')).toBe('controller');
    expect(c.get('node.id')).toBe('4');
    expect(c.get('controller.quorum.voters')).toBe('4@127.0.0.1:49093');
    expect(c.get('listeners')).toBe('CONTROLLER://127.0.0.1:49093');
    expect(c.get('listener.security.protocol.map')).toBe('CONTROLLER:PLAINTEXT');
    expect(c.has('advertised.listeners')).toBe(false);
    expect(c.has('inter.broker.listener.name')).toBe(false);
    expect(() =>
      brokerProperties({ node: controller, all: brokers, logDir: '/c', role: 'controller' }),
    ).toThrow('a controller node needs the controller quorum (controllers)');
  });

  it('refuses dedicated controllers with security or ZooKeeper', async () => {
    await expect(startKafka({ controllers: 'dedicated', security: true })).rejects.toThrow(
      "controllers 'dedicated': a KRaft cluster without security only",
    );
    await expect(
      startKafka({ version: '3.9.1', controllers: 'dedicated', metadata: 'zookeeper' }),
    ).rejects.toThrow("controllers 'dedicated': a KRaft cluster without security only");
  });

  it('applies overrides last', () => {
    const [node] = nodePorts(1);
    const p = brokerProperties({
      node: node!,
      all: [node!],
      logDir: '/d',
      overrides: { 'num.partitions': 3, 'log.retention.ms': '1000' },
    });
    expect(p.get('num.partitions')).toBe('3');
    expect(p.get('log.retention.ms')).toBe('1000');
  });

  it('round-trips through the properties text', () => {
    const [node] = nodePorts(1);
    const p = brokerProperties({ node: node!, all: [node!], logDir: 'C:\\data\\kafka' });
    const text = toPropertiesText(p);
    expect(text).toContain('log.dirs=C:\\\\data\\\\kafka\n');
    expect(parseProperties(text)).toEqual(p);
  });
});

describe('files and command lines', () => {
  it('logs WARN+ to the given file', () => {
    const text = log4jProperties('/data/node-1/broker.log');
    expect(text).toContain('appender.file.fileName = /data/node-1/broker.log');
    expect(text).toContain('rootLogger.level = WARN');
  });

  it('fetches Kafka with an SLF4J 2 API declared before it, and the log4j2 binding', () => {
    const pom = fetchPom('4.1.1');
    const slf4j = pom.indexOf('<artifactId>slf4j-api</artifactId>');
    const kafka = pom.indexOf('<artifactId>kafka_2.13</artifactId><version>4.1.1</version>');
    expect(slf4j).toBeGreaterThan(0);
    expect(kafka).toBeGreaterThan(slf4j);
    expect(pom).toContain('<artifactId>log4j-slf4j2-impl</artifactId>');
    expect(mavenArgs('/c/libs')).toEqual(
      expect.arrayContaining([
        'dependency:copy-dependencies',
        '-DincludeScope=runtime',
        '-DoutputDirectory=/c/libs',
      ]),
    );
  });

  it("fetches Kafka's command-line tools with the same SLF4J and a silent binding", () => {
    const pom = toolsPom('4.2.2');
    expect(pom).toContain('<artifactId>kafka-tools</artifactId><version>4.2.2</version>');
    expect(pom.indexOf('<artifactId>slf4j-api</artifactId>')).toBeLessThan(
      pom.indexOf('kafka-tools</artifactId>'),
    );
    expect(pom).toContain('<artifactId>slf4j-nop</artifactId>');
  });

  it('runs the JVM small', () => {
    const opts = jvmOptions({ log4jFile: '/x/log4j2.properties' });
    expect(opts).toContain('-Xmx512m');
    expect(opts).toContain('-Dlog4j2.configurationFile=/x/log4j2.properties');
    expect(jvmOptions({ heap: '256m', log4jFile: '/x' })).toContain('-Xmx256m');
  });

  it('makes Kafka-style cluster ids', () => {
    for (let i = 0; i < 50; i++) {
      const id = randomClusterId();
      expect(id).toMatch(/^[A-Za-z0-9_][A-Za-z0-9_-]{21}$/);
    }
  });

  it('reads java -version output', () => {
    expect(parseJavaVersion('openjdk version "17.0.15" 2025-04-15\nOpenJDK Runtime')).toBe(17);
    expect(parseJavaVersion('java version "1.8.0_402"')).toBe(8);
    expect(parseJavaVersion('openjdk version "25" 2025-09-16')).toBe(25);
    expect(parseJavaVersion('openjdk version "21-ea"')).toBe(21);
    expect(parseJavaVersion('bash: java: not found')).toBeUndefined();
  });

  it('maps properties to the apache/kafka image environment', () => {
    expect(imageEnvironment(new Map([['offsets.topic.replication.factor', '1']]))).toEqual({
      KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR: '1',
    });
  });

  it('parses KAFKA_BROKERS', () => {
    expect(parseBrokers(' a:9092, b:9093 ,')).toEqual(['a:9092', 'b:9093']);
    expect(() => parseBrokers('localhost')).toThrow(/host:port/);
    expect(() => parseBrokers(' , ')).toThrow(/empty/);
  });
});

describe('parseCliArgs', () => {
  it('has defaults', () => {
    expect(parseCliArgs(['start'])).toEqual({
      command: 'start',
      nodes: 1,
      basePort: DEFAULT_BASE_PORT,
      version: DEFAULT_KAFKA_VERSION,
    });
    expect(parseCliArgs([]).command).toBe('help');
    expect(parseCliArgs(['status', '--help']).command).toBe('help');
  });

  it('reads options', () => {
    expect(parseCliArgs(['start', '--nodes', '3', '--base-port', '20000', '--version', '4.1.1'])).toEqual({
      command: 'start',
      nodes: 3,
      basePort: 20000,
      version: '4.1.1',
    });
    expect(parseCliArgs(['start', '--nodes=3']).nodes).toBe(3);
    expect(parseCliArgs(['start', '--security', 'SASL_SSL']).security).toBe('sasl_ssl');
    expect(parseCliArgs(['start', '--security', 'ssl']).security).toBe('ssl');
  });

  it('rejects bad input', () => {
    expect(() => parseCliArgs(['launch'])).toThrow(/unknown command/);
    expect(() => parseCliArgs(['start', '--nodes', '2'])).toThrow(/1 or 3/);
    expect(() => parseCliArgs(['start', '--base-port', 'x'])).toThrow(/base-port/);
    expect(() => parseCliArgs(['start', '--base-port', '80'])).toThrow(/base-port/);
    expect(() => parseCliArgs(['start', '--frobnicate'])).toThrow();
    expect(() => parseCliArgs(['start', 'extra'])).toThrow(/unexpected/);
    expect(() => parseCliArgs(['start', '--security', 'kerberos'])).toThrow(/--security must be one of/);
  });
});

describe('assertPortsFree', () => {
  let server: Server | undefined;
  afterEach(async () => {
    await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
    server = undefined;
  });

  it('names the port that is taken', async () => {
    server = createServer();
    const port = await new Promise<number>((r) => {
      server!.listen(0, '127.0.0.1', () => r((server!.address() as { port: number }).port));
    });
    // The busy port is the controller port of node 1 (basePort + 1).
    // Only `port` is ours; on a busy machine its neighbour may be taken too, and is then named as well.
    await expect(assertPortsFree(nodePorts(1, port - 1))).rejects.toThrow(
      new RegExp(`ports? (\\d+, )?${port} on 127\\.0\\.0\\.1`),
    );
  });
});
