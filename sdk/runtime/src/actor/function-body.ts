// The body of a function's input task (the lessor of every actor of its partition): each step runs the user's
// handlers on the step's records through the StepRunner. A router (a re-keying ingress) is the same body over a
// synthetic function without state.
import type { IncomingRecord, RecordHeaders } from '@dirigo/core';
import { H_DEADLINE, H_INGEST, H_PRIORITY } from '../headers.ts';
import { StateCatalog } from '../state/catalog.ts';
import type { TimerEntry } from '../state/timers.ts';
import type { BodyState, TaskBody, TaskContext } from '../task/input-task.ts';
import type { StepOutput } from '../task/step-output.ts';
import type { FunctionEnv } from './function-env.ts';
import { StepRunner } from './step-runner.ts';

export class FunctionBody implements TaskBody {
  readonly kind: string;
  readonly state: BodyState | undefined;
  private readonly env: FunctionEnv;
  private runner: StepRunner | undefined;
  private queue = '';

  constructor(env: FunctionEnv) {
    this.env = env;
    this.kind = env.hasChangelog ? 'function' : 'router';
    this.state = env.hasChangelog
      ? {
          catalog: new StateCatalog(env.app.name, [env.fn]),
          changelogTopic: env.fn.changelogTopic,
          space: { app: env.app.name, fn: env.fn.name, slot: null },
        }
      : undefined;
  }

  attach(task: TaskContext): void {
    this.runner = new StepRunner(this.env, task.state, task.timers);
    this.queue = `${this.env.fn.group}/${task.partition}`;
  }

  run(records: readonly IncomingRecord[], out: StepOutput): Promise<void> {
    return this.runner!.run(records, out, this.queue);
  }

  timerHeaders(t: TimerEntry): RecordHeaders {
    return {
      [H_INGEST]: Buffer.from(String(t.ingest)),
      [H_DEADLINE]: Buffer.from(String(t.due + this.env.app.options.latencyTargetMs)),
      [H_PRIORITY]: this.env.priorityHeader,
    };
  }
}
