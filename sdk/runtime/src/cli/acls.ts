// `dirigo acls`: the ACLs a worker's principal needs for the apps given (acls.ts), as a table and as
// `kafka-acls.sh` commands, or as JSON. Talks to no broker.
import { ConfigError } from '@dirigo/core';
import { kafkaAclsCommands, workerAcls } from '../acls.ts';
import { DEFAULT_TRANSPORT, parseTransportName } from '../config-values.ts';
import { appsFrom, type ExitCode, out, parseVerb, table } from './common.ts';

export const USAGE = `usage: dirigo acls <app-module>... --principal User:NAME [--transport platformatic|kafkajs]
                   [--control-topic T] [--app NAME] [--json]
  Prints the ACLs (allow) a worker running these apps needs on a cluster that enforces ACLs, and the
  kafka-acls.sh commands that create them (set $BROKERS and an admin.properties of an admin principal).
  --transport      the worker's transport (platformatic by default; kafkajs needs one more group prefix)
  --control-topic  the worker's --control-topic (default dirigo.control)
  --json           one JSON array of { resourceType, patternType, name, operations, why }`;

export async function main(argv: readonly string[]): Promise<ExitCode> {
  const parsed = parseVerb(
    argv,
    {
      principal: { type: 'string' },
      transport: { type: 'string' },
      'control-topic': { type: 'string' },
      app: { type: 'string' },
      json: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
    USAGE,
  );
  if (typeof parsed === 'number') return parsed;
  const v = parsed.values;
  const transport = parseTransportName(
    (v.transport as string | undefined) ?? DEFAULT_TRANSPORT,
    '--transport',
  );
  const principal = v.principal as string | undefined;
  if (v.json !== true && (principal === undefined || !/^[A-Za-z]+:.+/.test(principal))) {
    throw new ConfigError(
      '--principal',
      'give the principal the worker runs as, e.g. --principal User:orders-app',
    );
  }
  const apps = await appsFrom(parsed.positionals, v.app as string | undefined);
  const controlTopic = v['control-topic'] as string | undefined;
  const acls = workerAcls(apps, { transport, ...(controlTopic === undefined ? {} : { controlTopic }) });
  if (v.json === true) {
    await out(`${JSON.stringify(acls)}\n`);
    return 0;
  }
  await out(
    table(
      ['resource', 'pattern', 'name', 'operations', 'why'],
      acls.map((a) => [a.resourceType, a.patternType, a.name, a.operations.join(','), a.why]),
    ),
  );
  await out(`\n${kafkaAclsCommands(acls, principal!).join('\n')}\n`);
  return 0;
}
