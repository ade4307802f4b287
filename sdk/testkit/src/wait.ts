// Condition-based waiting for tests: poll a condition until it holds or a timeout passes, instead of sleeping
// for a fixed time. Works against the in-memory transport and against a real broker alike.

export interface WaitOptions {
  /** Poll interval. Default 10 ms. */
  readonly intervalMs?: number;
  /** Added to the timeout error's message. */
  readonly message?: string;
}

/**
 * Resolves once `condition` returns true; a condition that throws counts as false (so `expect` may be used
 * inside). Rejects after `timeoutMs` (default 10000) with the last thrown error as `cause`.
 */
export async function waitFor(
  condition: () => boolean | Promise<boolean>,
  timeoutMs = 10_000,
  options: WaitOptions = {},
): Promise<void> {
  await waitForValue(async () => ((await condition()) ? true : undefined), timeoutMs, options);
}

/**
 * Resolves with the first value of `probe` that is not `undefined`; a probe that throws counts as undefined.
 * Rejects after `timeoutMs` (default 10000) with the last thrown error as `cause`.
 */
export async function waitForValue<T>(
  probe: () => T | undefined | Promise<T | undefined>,
  timeoutMs = 10_000,
  options: WaitOptions = {},
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() >= deadline) {
      const suffix = options.message === undefined ? '' : `: ${options.message}`;
      const cause = lastError instanceof Error ? ` (last error: ${lastError.message})` : '';
      throw new Error(`waitFor: condition not met within ${timeoutMs} ms${suffix}${cause}`, {
        cause: lastError,
      });
    }
    await new Promise((resolve) => setTimeout(resolve, options.intervalMs ?? 10));
  }
}
