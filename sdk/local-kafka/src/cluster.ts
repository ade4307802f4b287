// Starting, stopping and restarting the broker processes of a local KRaft cluster.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readFileSync, rmSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, rm, rmdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { type Logger, silentLogger } from '@dirigo/core';
import {
  bootstrapServers,
  brokerProperties,
  DEFAULT_BASE_PORT,
  DEFAULT_KAFKA_VERSION,
  HOST,
  jvmOptions,
  log4jProperties,
  type NodeCount,
  type NodePorts,
  nodePorts,
  randomClusterId,
  slotPorts,
  toPropertiesText,
} from './config.ts';
import { fetchKafka } from './fetch.ts';
import { answersKafka, busyPorts, waitFenced, waitReady } from './probe.ts';
import {
  clientEnvironment,
  type LocalCredentials,
  type LocalSecurity,
  SECURITY_MODES,
  type SecurityMode,
  LOCAL_RESTRICTED_USER,
  scramFormatArgs,
  secureBootstrap,
  securePorts,
  securityProperties,
} from './secure-config.ts';
import { runningCluster } from './status.ts';
import { makeTlsMaterial, type TlsMaterial } from './tls-material.ts';
import { hasMaven, isOurProcess, javaCommand, javaVersion, run, terminate } from './tools.ts';

export interface StartKafkaOptions {
  /** 1 (default) or 3 combined broker+controller nodes. */
  readonly nodes?: NodeCount;
  /** PLAINTEXT port of node 1 (default 19092); node i uses basePort+(i-1)*10000 and the port after it. */
  readonly basePort?: number;
  /**
   * Parent of the nodes' directories (`node-<id>`, wiped at start). Default: a new temporary directory.
   * `stop()` removes the node directories (and this directory when it is then empty) unless keepData.
   */
  readonly dataDir?: string;
  /** Kafka version from Maven Central (default DEFAULT_KAFKA_VERSION). */
  readonly version?: string;
  readonly logger?: Logger;
  /** Keep the data directory on stop() (default false). */
  readonly keepData?: boolean;
  /** Max heap of each broker JVM (default '512m'). */
  readonly heap?: string;
  /** Level of the brokers' log4j2 log (`<node dir>/broker.log`); default 'WARN'. */
  readonly brokerLogLevel?: 'ERROR' | 'WARN' | 'INFO' | 'DEBUG';
  /** Extra JVM options after the defaults (a later -Xmx or -XX:TieredStopAtLevel=4 wins). */
  readonly javaOptions?: readonly string[];
  /** Extra or replacing broker properties, applied to every node. */
  readonly brokerProperties?: Readonly<Record<string, string | number | boolean>>;
  /** How long to wait for the cluster to be ready (default 120 s for one node, 180 s for three). */
  readonly startTimeoutMs?: number;
  /**
   * Start the JVMs in their own process group, not tied to this process, and do not kill them when this
   * process exits (what the CLI does). Default false: they are killed if this process exits without stop().
   */
  readonly detached?: boolean;
  /** Called as each JVM is spawned (the CLI records pids before readiness, to clean up after Ctrl+C). */
  readonly onSpawn?: (node: { readonly id: number; readonly pid: number; readonly marker: string }) => void;
  /**
   * Add secured listeners next to PLAINTEXT (see `securePorts`): SASL_SSL, SSL with required client
   * certificates, and SASL_PLAINTEXT, with PLAIN, SCRAM-SHA-256/512 and (unsigned-token) OAUTHBEARER. The
   * certificates are made by keytool at start (needs a JDK); the SCRAM user is created at format time. Read
   * what clients need from `KafkaCluster.security`. Default false.
   */
  readonly security?: boolean | { readonly hostnames?: readonly string[] };
  /**
   * Where the cluster keeps its metadata: `kraft` (default: every node a combined broker and controller) or
   * `zookeeper` (Kafka 3.x, one node, no security): a ZooKeeper server on the node's controller port, started
   * first, and a broker registered in it, as the clusters that have not moved to KRaft run. ZooKeeper is the one
   * Kafka's own libraries bring (`org.apache.zookeeper:zookeeper`, a dependency of `kafka_2.13` before 4.0).
   */
  readonly metadata?: 'kraft' | 'zookeeper';
  /**
   * KRaft: `combined` (default) every node a broker and a controller; `dedicated` the nodes are brokers only, and
   * one more node (id `nodes + 1`, its controller port `basePort + nodes*10000 + 1`) is the controller alone, as
   * production clusters run (no client listener; `startNode` and `stopNode` take it too). Not with `security` or
   * ZooKeeper.
   */
  readonly controllers?: 'combined' | 'dedicated';
}

export interface KafkaNodeInfo {
  readonly id: number;
  /** `controller`: the dedicated controller of a `controllers: 'dedicated'` cluster (its `port` is unused). */
  readonly role: 'combined' | 'broker' | 'controller';
  /** PLAINTEXT port (clients). */
  readonly port: number;
  readonly controllerPort: number;
  /** Pid of the node's current (or last) JVM. */
  readonly pid: number;
  readonly running: boolean;
  /** The node's directory: server.properties, broker.log (WARN+), stdout.log, kafka-logs/. */
  readonly dir: string;
}

export interface KafkaCluster {
  /** Bootstrap servers, comma-separated host:port. */
  readonly brokers: string;
  readonly version: string;
  readonly clusterId: string;
  readonly dataDir: string;
  /** A snapshot of the nodes. */
  readonly nodes: readonly KafkaNodeInfo[];
  /** Stops one node: SIGTERM (controlled shutdown, SIGKILL after a grace period) or SIGKILL (a crash). */
  stopNode(id: number, signal?: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /**
   * Starts a stopped node again on its own data and waits until it serves metadata listing every node. First it
   * waits until the running nodes no longer list it, i.e. until the controller has fenced the stopped process's
   * broker session and moved its partitions' leadership (see `StartNodeOptions.beforeFenced`).
   */
  startNode(id: number, opts?: StartNodeOptions): Promise<void>;
  /** Ends exactly the processes this cluster started and removes the data unless kept. */
  stop(opts?: { keepData?: boolean }): Promise<void>;
  /** Listeners, certificates and user of a cluster started with `security`. */
  readonly security?: LocalSecurity;
}

export interface StartNodeOptions {
  /**
   * Start the node at once, even while the controller still counts the stopped process as alive (default false).
   * Kafka 4.2.2 then lets the new process lead its old partitions at their old leader epoch for a moment, on a
   * log whose tail was never replicated: a transaction coordinator among them acts on a PrepareCommit that the
   * next leader does not have, and one transaction ends committed on some partitions and aborted on others
   * (docs/operations.md, "Known limitations"). Only for showing that defect.
   */
  readonly beforeFenced?: boolean;
  /** How long to wait for the fence (default 60 s; the controller needs `broker.session.timeout.ms`, more after its own failover). */
  readonly fenceTimeoutMs?: number;
}

/** What a broker's command line contains: the path of its own server.properties. */
export function markerOf(dir: string): string {
  return join(dir, 'server.properties');
}

function tail(file: string, lines = 40): string {
  try {
    return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

interface NodeState {
  readonly ports: NodePorts;
  readonly role: 'combined' | 'broker' | 'controller';
  readonly dir: string;
  pid: number;
  exited: { code: number | null; signal: string | null } | undefined;
  /** Resolves when this process has seen the JVM exit (it is reaped then: no zombie keeps the pid). */
  exit: Promise<void>;
  expectedExit: boolean;
}

/** A node's JVM exited while we waited for it; the message already carries its logs. */
class NodeExitedError extends Error {
  override readonly name = 'NodeExitedError';
}

/** Ends a node's JVM (see terminate) and waits until this process has reaped it. */
async function endNode(node: NodeState, signal: 'SIGTERM' | 'SIGKILL', graceMs: number): Promise<void> {
  if (node.pid <= 0) return;
  await terminate(node.pid, markerOf(node.dir), { signal, graceMs });
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([node.exit, new Promise((r) => (timer = setTimeout(r, 5000)))]);
  clearTimeout(timer);
}

function nodeDiagnostics(node: NodeState): string {
  const parts = [`node ${node.ports.id} (${node.dir})`];
  const log = tail(join(node.dir, 'broker.log'));
  if (log) parts.push(`broker.log:\n${log}`);
  const out = tail(join(node.dir, 'stdout.log'));
  if (out) parts.push(`stdout.log:\n${out}`);
  return parts.join('\n');
}

/** Throws an Error naming the port when any port of the layout is taken, and what seems to hold it. */
export async function assertPortsFree(ports: readonly NodePorts[]): Promise<void> {
  const running = await runningCluster();
  if (running) {
    const theirs = new Set(running.nodes.flatMap((n) => [n.port, n.controllerPort]));
    const clash = ports.flatMap((p) => [p.port, p.controllerPort]).find((p) => theirs.has(p));
    if (clash !== undefined) {
      throw new Error(
        `Kafka is already running on port ${clash}: a cluster started by \`npm run kafka -- start\` ` +
          `(${running.brokers}, Kafka ${running.version}). Use it (KAFKA_BROKERS=${running.brokers}), ` +
          'stop it with `npm run kafka -- stop`, or choose another basePort.',
      );
    }
  }
  const busy = await busyPorts(ports.flatMap((p) => [p.port, p.controllerPort]));
  const first = busy[0];
  if (first === undefined) return;
  const kafkaPort = ports.find((p) => busy.includes(p.port));
  if (kafkaPort && (await answersKafka(`${HOST}:${kafkaPort.port}`))) {
    throw new Error(
      `Kafka is already running on port ${kafkaPort.port} (a broker answers at ${HOST}:${kafkaPort.port}, ` +
        'not one started by `npm run kafka -- start`). Stop it, point KAFKA_BROKERS at it, or choose another basePort.',
    );
  }
  throw new Error(
    `${busy.length === 1 ? `port ${first} on ${HOST} is` : `ports ${busy.join(', ')} on ${HOST} are`} already in use by another process (ports needed: ` +
      `${ports.map((p) => `${p.port}/${p.controllerPort}`).join(', ')}). Free it or choose another basePort.`,
  );
}

/** Fails with what to install when Java 17+ (or Maven, for a first fetch) is missing. */
async function assertJava(): Promise<void> {
  const java = await javaVersion();
  if (java === undefined) {
    throw new Error(
      `cannot run ${javaCommand()}: install Java 17+ (or set JAVA_HOME) to run a local Kafka broker`,
    );
  }
  if (java < 17) {
    throw new Error(
      `Java ${java} found (${javaCommand()}); Kafka 4 needs Java 17+: install it or set JAVA_HOME`,
    );
  }
}

interface ZooKeeperProcess {
  /** Ends the server (SIGTERM, SIGKILL after a grace period) and waits until it is gone. */
  stop(signal: 'SIGTERM' | 'SIGKILL'): Promise<void>;
  /** SIGKILL now, synchronously (the process-exit safety net). */
  kill(): void;
}

/**
 * Starts a standalone ZooKeeper server (Kafka 3.x's own `ZooKeeperServerMain`) on `port` with its data in
 * `dir/data` (which marks its command line), and resolves once it listens. Its output goes to `dir/zookeeper.log`.
 */
async function startZooKeeper(
  dir: string,
  port: number,
  classpath: string,
  detached: boolean,
): Promise<ZooKeeperProcess> {
  const marker = join(dir, 'data');
  await mkdir(marker, { recursive: true });
  const log = join(dir, 'zookeeper.log');
  const out = openSync(log, 'a');
  let child: ReturnType<typeof spawn>;
  try {
    child = spawn(
      javaCommand(),
      ['-Xmx128m', '-cp', classpath, 'org.apache.zookeeper.server.ZooKeeperServerMain', String(port), marker],
      { cwd: dir, stdio: ['ignore', out, out], detached, windowsHide: true },
    );
  } finally {
    closeSync(out);
  }
  const pid = child.pid;
  if (pid === undefined) throw new Error('could not start java for ZooKeeper');
  child.unref();
  let exited = false;
  const exit = new Promise<void>((r) =>
    child.once('exit', () => {
      exited = true;
      r();
    }),
  );
  const zk: ZooKeeperProcess = {
    async stop(signal) {
      await terminate(pid, marker, { signal, graceMs: 5000 });
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([exit, new Promise((r) => (timer = setTimeout(r, 5000)))]);
      clearTimeout(timer);
    },
    kill() {
      if (!isOurProcess(pid, marker)) return;
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // already gone
      }
    },
  };
  const deadline = Date.now() + 30_000;
  while ((await busyPorts([port])).length === 0) {
    if (exited || Date.now() > deadline) {
      await zk.stop('SIGKILL');
      throw new Error(
        `ZooKeeper ${exited ? 'exited' : 'did not listen'} on port ${port} within 30 s:\n${tail(log)}`,
      );
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return zk;
}

/** Starts a local Kafka cluster, fetching Kafka first if needed, and resolves once every node is ready. */
export async function startKafka(opts: StartKafkaOptions = {}): Promise<KafkaCluster> {
  const logger = opts.logger ?? silentLogger();
  const count = opts.nodes ?? 1;
  const version = opts.version ?? DEFAULT_KAFKA_VERSION;
  const layout = nodePorts(count, opts.basePort ?? DEFAULT_BASE_PORT);
  const began = Date.now();

  const zookeeper = opts.metadata === 'zookeeper';
  const dedicated = opts.controllers === 'dedicated';
  if (dedicated && (zookeeper || opts.security)) {
    throw new Error("controllers 'dedicated': a KRaft cluster without security only");
  }
  // The dedicated controller: the slot after the brokers'.
  const controller = dedicated ? slotPorts(count + 1, layout[0]!.port) : undefined;
  const role = dedicated ? 'broker' : 'combined';
  if (zookeeper) {
    if (count !== 1) throw new Error(`metadata 'zookeeper': one node only (asked for ${count})`);
    if (Number(version.split('.')[0]) >= 4) {
      throw new Error(
        `metadata 'zookeeper': Kafka ${version} has no ZooKeeper mode (removed in 4.0); use a 3.x version`,
      );
    }
    if (opts.security) throw new Error("metadata 'zookeeper': security is only set up on KRaft clusters");
  }

  await assertJava();
  await assertPortsFree(controller === undefined ? layout : [...layout, controller]);
  if (opts.security) {
    const ports = layout.flatMap((n) => Object.values(securePorts(n)));
    const busy = await busyPorts(ports);
    if (busy.length > 0) {
      throw new Error(
        `port${busy.length === 1 ? '' : 's'} ${busy.join(', ')} on ${HOST} (secured listeners) already in use: free ${busy.length === 1 ? 'it' : 'them'} or choose another basePort`,
      );
    }
  }
  let dist: Awaited<ReturnType<typeof fetchKafka>>;
  try {
    dist = await fetchKafka(version, { logger });
  } catch (e) {
    if (!(await hasMaven())) {
      throw new Error(`Kafka ${version} is not cached and mvn cannot be run: install Maven (3.6+)`, {
        cause: e,
      });
    }
    throw e;
  }

  const ownDataDir = opts.dataDir === undefined;
  const dataDir = ownDataDir ? await mkdtemp(join(tmpdir(), 'dirigo-kafka-')) : resolve(opts.dataDir!);
  await mkdir(dataDir, { recursive: true });
  const clusterId = randomClusterId();
  const classpath = join(dist.libsDir, '*');

  const tlsDir = join(dataDir, 'tls');
  await rm(tlsDir, { recursive: true, force: true });
  let material: TlsMaterial | undefined;
  let credentials: LocalCredentials | undefined;
  let restrictedCredentials: LocalCredentials | undefined;
  if (opts.security) {
    const hostnames = typeof opts.security === 'object' ? opts.security.hostnames : undefined;
    try {
      material = await makeTlsMaterial(tlsDir, hostnames ? { hostnames } : {});
    } catch (e) {
      await rm(tlsDir, { recursive: true, force: true });
      if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
      throw e;
    }
    credentials = { username: 'dirigo', password: randomBytes(12).toString('hex') };
    restrictedCredentials = { username: LOCAL_RESTRICTED_USER, password: randomBytes(12).toString('hex') };
  }

  const nodes: NodeState[] = [];
  const all: [NodePorts, NodeState['role']][] = layout.map((p) => [p, role]);
  if (controller !== undefined) all.push([controller, 'controller']);
  for (const [ports, nodeRole] of all) {
    const dir = join(dataDir, `node-${ports.id}`);
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    const secured =
      material && credentials
        ? Object.fromEntries(
            securityProperties({
              node: ports,
              credentials,
              keystore: material.files.brokerKeystore,
              truststore: material.files.truststore,
              storePassword: material.storePassword,
            }),
          )
        : {};
    const props = brokerProperties({
      node: ports,
      all: layout,
      logDir: join(dir, 'kafka-logs'),
      overrides: { ...secured, ...opts.brokerProperties },
      ...(zookeeper ? { zookeeperConnect: `${HOST}:${ports.controllerPort}` } : {}),
      ...(controller === undefined ? {} : { role: nodeRole, controllers: [controller] }),
    });
    await writeFile(join(dir, 'server.properties'), toPropertiesText(props));
    await writeFile(
      join(dir, 'log4j2.properties'),
      log4jProperties(join(dir, 'broker.log'), opts.brokerLogLevel ?? 'WARN'),
    );
    nodes.push({
      ports,
      role: nodeRole,
      dir,
      pid: 0,
      exited: undefined,
      exit: Promise.resolve(),
      expectedExit: false,
    });
  }

  const jvm = (node: NodeState) => [
    ...jvmOptions({
      log4jFile: join(node.dir, 'log4j2.properties'),
      ...(opts.heap ? { heap: opts.heap } : {}),
    }),
    ...(opts.javaOptions ?? []),
  ];

  const zkDir = join(dataDir, 'zookeeper');
  let zk: ZooKeeperProcess | undefined;
  const cleanupData = async () => {
    for (const node of nodes) await rm(node.dir, { recursive: true, force: true });
    await rm(zkDir, { recursive: true, force: true });
    await rm(tlsDir, { recursive: true, force: true });
    if (ownDataDir) await rm(dataDir, { recursive: true, force: true });
    else await rmdir(dataDir).catch(() => undefined); // only when empty
  };

  // Format every node's storage with the same cluster id (static quorum: no --standalone). A ZooKeeper-based
  // broker formats nothing: it registers in ZooKeeper, which is started here instead.
  if (zookeeper) {
    try {
      zk = await startZooKeeper(zkDir, layout[0]!.controllerPort, classpath, opts.detached === true);
    } catch (e) {
      if (!opts.keepData) await cleanupData();
      throw e;
    }
  }
  const formats = await Promise.all(
    (zookeeper ? [] : nodes).map((node) =>
      run(
        javaCommand(),
        [
          ...jvm(node),
          '-cp',
          classpath,
          'kafka.tools.StorageTool',
          'format',
          '-t',
          clusterId,
          '-c',
          markerOf(node.dir),
          ...(credentials && restrictedCredentials
            ? scramFormatArgs(credentials, restrictedCredentials)
            : []),
        ],
        { cwd: node.dir, timeoutMs: 120_000 },
      ),
    ),
  );
  const failed = formats.findIndex((r) => r.code !== 0);
  if (failed >= 0) {
    const r = formats[failed]!;
    if (!opts.keepData) await cleanupData();
    throw new Error(
      `formatting the storage of node ${nodes[failed]!.ports.id} failed (exit ${String(r.code)}): ${r.error?.message ?? ''}\n` +
        `${r.stdout}\n${r.stderr}`.trim(),
    );
  }

  const spawnNode = (node: NodeState): void => {
    const out = openSync(join(node.dir, 'stdout.log'), 'a');
    let child: ReturnType<typeof spawn>;
    try {
      child = spawn(javaCommand(), [...jvm(node), '-cp', classpath, 'kafka.Kafka', markerOf(node.dir)], {
        cwd: node.dir,
        stdio: ['ignore', out, out],
        detached: opts.detached === true,
        windowsHide: true,
      });
    } finally {
      closeSync(out);
    }
    if (child.pid === undefined) throw new Error(`could not start java for node ${node.ports.id}`);
    child.unref();
    node.pid = child.pid;
    node.exited = undefined;
    node.expectedExit = false;
    node.exit = new Promise((resolveExit) => {
      child.once('exit', (code, signal) => {
        if (node.pid === child.pid) {
          node.exited = { code, signal };
          if (!node.expectedExit) {
            logger.warn(
              { node: node.ports.id, pid: child.pid, code, signal, dir: node.dir },
              'Kafka node exited',
            );
          }
        }
        resolveExit();
      });
    });
    opts.onSpawn?.({ id: node.ports.id, pid: node.pid, marker: markerOf(node.dir) });
    logger.debug({ node: node.ports.id, pid: node.pid, port: node.ports.port }, 'Kafka node started');
  };

  const running = (node: NodeState) =>
    node.pid > 0 && node.exited === undefined && isOurProcess(node.pid, markerOf(node.dir));

  // Safety net: kill our JVMs if this process exits without stop() (not for the CLI's detached cluster).
  const onExit = () => {
    for (const node of nodes) {
      if (node.pid > 0 && isOurProcess(node.pid, markerOf(node.dir))) {
        try {
          process.kill(node.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    zk?.kill();
    if (ownDataDir && !opts.keepData) rmSync(dataDir, { recursive: true, force: true });
  };
  if (!opts.detached) process.once('exit', onExit);

  const failIfDead = (subset: readonly NodeState[]) => () => {
    const dead = subset.find(
      (n) => n.exited !== undefined || (n.pid > 0 && !isOurProcess(n.pid, markerOf(n.dir))),
    );
    if (dead) {
      throw new NodeExitedError(
        `Kafka node ${dead.ports.id} exited during startup` +
          `${dead.exited ? ` (code ${String(dead.exited.code)}, signal ${String(dead.exited.signal)})` : ''}\n` +
          nodeDiagnostics(dead),
      );
    }
  };

  const timeoutMs = opts.startTimeoutMs ?? (count === 3 ? 180_000 : 120_000);

  /** The nodes clients talk to (every node but a dedicated controller). */
  const brokerNodes = nodes.filter((n) => n.role !== 'controller');
  try {
    for (const node of nodes) spawnNode(node);
    await waitReady({
      nodes: new Map(brokerNodes.map((n) => [n.ports.id, `${HOST}:${n.ports.port}`])),
      timeoutMs,
      check: failIfDead(nodes),
    });
  } catch (e) {
    const details = nodes.map(nodeDiagnostics).join('\n\n');
    for (const n of nodes) n.expectedExit = true;
    await Promise.all(nodes.map((n) => endNode(n, 'SIGKILL', 0)));
    await zk?.stop('SIGKILL');
    if (!opts.detached) process.removeListener('exit', onExit);
    if (!opts.keepData) await cleanupData();
    const message = (e as Error).message;
    throw new Error(e instanceof NodeExitedError ? message : `${message}\n${details}`, { cause: e });
  }

  const brokers = bootstrapServers(layout);
  logger.info(
    { brokers, version, nodes: count, ms: Date.now() - began, dataDir, fetched: dist.fetched },
    'Kafka is ready',
  );

  const find = (id: number): NodeState => {
    const node = nodes.find((n) => n.ports.id === id);
    if (!node)
      throw new Error(`no node ${id} in this cluster (nodes: ${nodes.map((n) => n.ports.id).join(', ')})`);
    return node;
  };

  let security: LocalSecurity | undefined;
  if (material && credentials && restrictedCredentials) {
    const m = material;
    const envFiles = Object.fromEntries(
      SECURITY_MODES.map((mode) => [mode, join(m.dir, `${mode}.env`)]),
    ) as Record<SecurityMode, string>;
    const bootstrap = Object.fromEntries(
      SECURITY_MODES.map((mode) => [mode, secureBootstrap(layout, mode)]),
    ) as Record<SecurityMode, string>;
    for (const mode of SECURITY_MODES) {
      await writeFile(
        envFiles[mode],
        clientEnvironment({
          mode,
          brokers: bootstrap[mode],
          credentials,
          caLocation: m.files.ca,
          certificateLocation: m.files.clientCert,
          keyLocation: m.files.clientKey,
        }),
        { mode: 0o600 },
      );
    }
    security = {
      bootstrap,
      credentials,
      restrictedCredentials,
      dir: m.dir,
      caLocation: m.files.ca,
      client: { certificateLocation: m.files.clientCert, keyLocation: m.files.clientKey },
      untrustedClient: { certificateLocation: m.files.untrustedCert, keyLocation: m.files.untrustedKey },
      clientKeystore: { location: m.files.clientKeystore, password: m.storePassword },
      envFiles,
    };
  }

  let stopped = false;
  const cluster: KafkaCluster = {
    ...(security ? { security } : {}),
    brokers,
    version,
    clusterId,
    dataDir,
    get nodes(): KafkaNodeInfo[] {
      return nodes.map((n) => ({
        id: n.ports.id,
        role: n.role,
        port: n.ports.port,
        controllerPort: n.ports.controllerPort,
        pid: n.pid,
        running: running(n),
        dir: n.dir,
      }));
    },
    async stopNode(id, signal = 'SIGTERM') {
      const node = find(id);
      node.expectedExit = true;
      await endNode(node, signal, 30_000);
      logger.debug({ node: id, pid: node.pid, signal }, 'Kafka node stopped');
    },
    async startNode(id, startOpts = {}) {
      if (stopped) throw new Error('this cluster was stopped');
      const node = find(id);
      if (running(node)) return;
      // No broker lists a dedicated controller: it is back once the brokers answer again.
      const broker = node.role !== 'controller';
      if (broker && startOpts.beforeFenced !== true) {
        const others = brokerNodes
          .filter((n) => n !== node && running(n))
          .map((n) => `${HOST}:${n.ports.port}`);
        const waited = await waitFenced(id, others, startOpts.fenceTimeoutMs ?? 60_000);
        logger.debug({ node: id, waitedMs: waited }, 'Kafka node fenced by the controller');
      }
      const busy = await busyPorts(
        broker ? [node.ports.port, node.ports.controllerPort] : [node.ports.controllerPort],
      );
      if (busy.length > 0) throw new Error(`cannot restart node ${id}: port ${busy[0]} on ${HOST} is in use`);
      spawnNode(node);
      if (broker) {
        await waitReady({
          nodes: new Map([[id, `${HOST}:${node.ports.port}`]]),
          timeoutMs,
          check: failIfDead([node]),
        });
      }
      // Every running broker must list every broker (this one again too).
      await waitReady({
        nodes: new Map(brokerNodes.filter(running).map((n) => [n.ports.id, `${HOST}:${n.ports.port}`])),
        timeoutMs,
        check: failIfDead([node]),
      });
      logger.debug({ node: id, pid: node.pid }, 'Kafka node restarted');
    },
    async stop(stopOpts = {}) {
      if (stopped) return;
      stopped = true;
      for (const n of nodes) n.expectedExit = true;
      // Shutting all nodes down at once can leave the last ones without a quorum for their controlled
      // shutdown: they get SIGKILL after a short grace, which is fine since the data goes too.
      const keep = stopOpts.keepData ?? opts.keepData ?? false;
      const grace = keep ? 30_000 : 5000;
      // Brokers first: a dedicated controller answers their controlled shutdown.
      await Promise.all(brokerNodes.map((n) => endNode(n, 'SIGTERM', grace)));
      await Promise.all(
        nodes.filter((n) => n.role === 'controller').map((n) => endNode(n, 'SIGTERM', grace)),
      );
      await zk?.stop('SIGTERM');
      if (!opts.detached) process.removeListener('exit', onExit);
      if (!keep) await cleanupData();
      logger.info({ brokers }, 'Kafka stopped');
    },
  };
  return cluster;
}

/** Whether `dir` holds node directories written by startKafka (used by the CLI before deleting). */
export async function looksLikeDataDir(dir: string): Promise<boolean> {
  if (!existsSync(dir)) return false;
  const entries = await readdir(dir);
  return (
    entries.length === 0 || entries.every((e) => /^node-\d+$/.test(e) || e === 'tls' || e === 'zookeeper')
  );
}
