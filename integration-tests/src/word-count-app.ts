// The word-count example for worker processes started by the tests (CLI, containers): its topics and
// namespace come from the environment (WC_NAMESPACE, WC_LINES, WC_COUNTS), so that each test has its own.
import { wordCountApp } from '@dirigo/example-word-count';

export default wordCountApp({
  ...(process.env.WC_NAMESPACE ? { namespace: process.env.WC_NAMESPACE } : {}),
  ...(process.env.WC_LINES ? { linesTopic: process.env.WC_LINES } : {}),
  ...(process.env.WC_COUNTS ? { countsTopic: process.env.WC_COUNTS } : {}),
});
