// Runs the raw kafkajs baseline in a process of its own (stock kafkajs, nothing else loaded). Argument: the
// options as JSON. Last stdout line: `{"recordsPerSec":..,"seconds":..}`.
import { runRawLoop } from './raw-loop.ts';

const result = await runRawLoop(JSON.parse(process.argv[2]!));
process.stdout.write(`${JSON.stringify(result)}\n`);
