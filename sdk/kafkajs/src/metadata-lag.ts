// A topic created a moment ago is not known to every broker of a cluster at once (each learns of it on its own):
// a client that asks another broker gets UNKNOWN_TOPIC_OR_PARTITION for a while. The calls that meet a new topic
// first (a consumer's subscribe, describeTopics after createTopics) ask again for that long.

/** How long a topic may stay unknown to some broker after it was created. */
export const METADATA_LAG_MS = 10_000;

/**
 * Runs `run`, and again (100 ms doubling to 1 s apart) while it fails with an error for which `retryUntil` gives
 * a time (ms since epoch) not yet passed; `retryUntil` answers 0 for an error not to retry. Any other failure is
 * thrown as it is.
 */
export async function askAgainWhileUnknown<T>(
  run: () => Promise<T>,
  retryUntil: (error: unknown) => number,
  onRetry: (error: unknown, attempt: number) => void,
): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await run();
    } catch (error) {
      if (Date.now() >= retryUntil(error)) throw error;
      onRetry(error, attempt);
      await new Promise((r) => setTimeout(r, Math.min(1_000, 100 * 2 ** attempt)));
    }
  }
}
