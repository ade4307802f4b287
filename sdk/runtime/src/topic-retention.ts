// What a topic's time retention does to records with old timestamps: the broker deletes a segment whose newest
// record timestamp is older than `retention.ms` at its next retention check (`log.retention.check.interval.ms`,
// 5 minutes by default), whether anyone consumed it or not. Records keep their producer's timestamps: event
// time in an event-time app, the recorded time in a replay, the input's time in a lease forward.

/** The configs of a purged internal topic: no time retention (the worker deletes what its group committed). */
export const PURGED_TOPIC_CONFIG: Readonly<Record<string, string>> = { 'retention.ms': '-1' };

/**
 * The time after which the broker deletes records of a topic with these configs (from `describeTopics`), ms, or
 * undefined when it keeps them: compacted only, `retention.ms` -1 or not reported (the in-memory transport has
 * no retention), or timestamps set by the broker on append (`message.timestamp.type=LogAppendTime`).
 */
export function timeRetentionMs(config: Readonly<Record<string, string>>): number | undefined {
  const policy = config['cleanup.policy'] ?? 'delete';
  const retention = Number(config['retention.ms'] ?? Number.NaN);
  if (!policy.split(',').includes('delete') || !(retention >= 0)) return undefined;
  if (config['message.timestamp.type'] === 'LogAppendTime') return undefined;
  return retention;
}

/** A duration for people: `604800000 ms (7 days)`. */
export function retentionText(ms: number): string {
  const days = ms / 86_400_000;
  return days >= 1
    ? `${ms} ms (${Number(days.toFixed(1))} days)`
    : `${ms} ms (${Number((ms / 3_600_000).toFixed(1))} hours)`;
}

/**
 * A configuration of an existing purged topic that lets the broker delete records before they are consumed
 * (a topic created before purging existed, or by hand): what to say about it, or undefined when it is fine.
 */
export function retentionProblem(
  topic: string,
  config: Readonly<Record<string, string>>,
): string | undefined {
  const retention = timeRetentionMs(config);
  if (retention === undefined) return undefined;
  return `topic '${topic}' has retention.ms=${retention}: the broker deletes records with timestamps older than ${retentionText(retention)} (event-time sends, replayed or late input) before they are consumed; set retention.ms=-1 on it (the worker deletes consumed records itself)`;
}
