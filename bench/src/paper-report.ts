// What people look at after `npm run bench -- paper`: a Markdown table and SVG plots drawn with vega-lite,
// compiled to vega and rendered headless (View.toSVG, no canvas, no browser).
import * as vega from 'vega';
import * as vl from 'vega-lite';
import type { PaperResult, RunName } from './paper.ts';
import { RUNS } from './paper.ts';
import { PAPER_APPS } from './paper-apps.ts';

const POLICY_COLORS: Record<RunName, string> = {
  fifoPeak: '#4c78a8',
  fifoEqual: '#e45756',
  dirigo: '#54a24b',
};
const colorScale = (runs: readonly RunName[]) => ({
  domain: [...runs],
  range: runs.map((r) => POLICY_COLORS[r]),
});

async function render(spec: vl.TopLevelSpec): Promise<string> {
  const compiled = vl.compile(spec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  const svg = await view.toSVG();
  view.finalize();
  return `${svg}\n`;
}

/** The SVG plots by file suffix: load-latency, lessees, satisfaction. */
export async function paperPlots(r: PaperResult, steady: boolean): Promise<Record<string, string>> {
  const runs = RUNS.filter((n) => r.runs[n] !== undefined);
  const title = `${steady ? 'steady load' : 'bursty load'}${r.params.rounds > 1 ? ` (series: round 1 of ${r.params.rounds})` : ''}`;
  const offered = r.offered.map((o) => ({ t: o.t, events: o.events }));
  const latency = runs.flatMap((n) =>
    (r.rounds[0]?.[n] ?? r.runs[n]!).latencySeries
      .filter((s) => s.p99Ms !== null)
      .map((s) => ({
        t: s.t,
        p99: s.p99Ms,
        run: n,
      })),
  );
  const critical = r.params.critical;
  const feedS = (r.params.warmupMs + r.params.durationMs + r.params.tailMs) / 1000;
  const xScale = { domain: [0, feedS] };
  const loadLatency: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Offered load and p99 latency of the latency-critical apps (${critical.join(', ')}) over time, ${title}`,
    vconcat: [
      {
        width: 640,
        height: 140,
        data: { values: offered },
        mark: { type: 'line', interpolate: 'step-after', color: '#555' },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since the feed started', scale: xScale },
          y: { field: 'events', type: 'quantitative', title: 'offered events/s (every run)' },
        },
      },
      {
        width: 640,
        height: 220,
        layer: [
          {
            data: { values: latency },
            mark: { type: 'line', point: true },
            encoding: {
              x: {
                field: 't',
                type: 'quantitative',
                title: `window end, seconds since the feed started (buckets of ${r.params.bucketMs / 1000} s)`,
                scale: xScale,
              },
              y: {
                field: 'p99',
                type: 'quantitative',
                title: 'p99 latency after window end, ms',
              },
              color: { field: 'run', type: 'nominal', title: 'run', scale: colorScale(runs) },
            },
          },
          {
            data: { values: critical.map((a) => ({ target: r.params.targets[a], label: `${a} target` })) },
            layer: [
              {
                mark: { type: 'rule', strokeDash: [4, 4], color: '#888' },
                encoding: { y: { field: 'target', type: 'quantitative' } },
              },
              {
                mark: { type: 'text', align: 'left', dx: 4, dy: -6, color: '#666', fontSize: 10 },
                encoding: {
                  x: { datum: 0, type: 'quantitative' },
                  y: { field: 'target', type: 'quantitative' },
                  text: { field: 'label' },
                },
              },
            ],
          },
        ],
      },
    ],
  };
  const lessees = runs.flatMap((n) =>
    (r.rounds[0]?.[n] ?? r.runs[n]!).leaseSeries
      .filter((s) => s.t >= 0 && s.t <= feedS)
      .map((s) => ({ t: s.t, lessees: s.hotKeyLessees, run: n })),
  );
  const lesseesSpec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Lessees of the hot key (Q7's single key) over time, ${title}`,
    vconcat: [
      {
        width: 640,
        height: 100,
        data: { values: offered },
        mark: { type: 'line', interpolate: 'step-after', color: '#555' },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since the feed started', scale: xScale },
          y: { field: 'events', type: 'quantitative', title: 'offered events/s' },
        },
      },
      {
        width: 640,
        height: 160,
        data: { values: lessees },
        mark: { type: 'line', interpolate: 'step-after' },
        encoding: {
          x: { field: 't', type: 'quantitative', title: 'seconds since the feed started', scale: xScale },
          y: {
            field: 'lessees',
            type: 'quantitative',
            title: 'lessees (sampled every 250 ms)',
            axis: { tickMinStep: 1 },
          },
          color: { field: 'run', type: 'nominal', title: 'run', scale: colorScale(runs) },
        },
      },
    ],
  };
  const sat = runs.flatMap((n) => [
    ...PAPER_APPS.map((a) => ({
      app: `${a}${critical.includes(a) ? ' (critical)' : ''}`,
      run: n,
      satisfaction: r.runs[n]!.apps[a].satisfaction,
    })),
    { app: 'critical apps', run: n, satisfaction: r.runs[n]!.overall.satisfaction },
  ]);
  const appOrder = [
    'critical apps',
    ...PAPER_APPS.map((a) => `${a}${critical.includes(a) ? ' (critical)' : ''}`),
  ];
  const satSpec: vl.TopLevelSpec = {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    title: `Satisfaction (results before window end + target) per app and run, ${title}`,
    width: 560,
    height: 240,
    data: { values: sat },
    layer: [
      {
        mark: 'bar',
        encoding: {
          x: {
            field: 'app',
            type: 'nominal',
            title: null,
            sort: appOrder,
            axis: { labelAngle: 0, labelLimit: 200 },
          },
          xOffset: { field: 'run', sort: [...runs] },
          y: {
            field: 'satisfaction',
            type: 'quantitative',
            scale: { domain: [0, 1] },
            title: 'satisfaction',
          },
          color: { field: 'run', type: 'nominal', title: 'run', scale: colorScale(runs) },
        },
      },
      {
        mark: { type: 'text', dy: -6, fontSize: 9 },
        encoding: {
          x: { field: 'app', type: 'nominal', sort: appOrder },
          xOffset: { field: 'run', sort: [...runs] },
          y: { field: 'satisfaction', type: 'quantitative' },
          text: { field: 'satisfaction', type: 'quantitative', format: '.2f' },
        },
      },
    ],
  };
  return {
    'load-latency': await render(loadLatency),
    lessees: await render(lesseesSpec),
    satisfaction: await render(satSpec),
  };
}

export function paperMarkdown(
  r: PaperResult,
  m: {
    at: string;
    steady: boolean;
    elapsedS: number;
    base: string;
    targets: Record<string, unknown> | null;
    line: unknown;
  },
): string {
  const p = r.params;
  const runs = RUNS.filter((n) => r.runs[n] !== undefined);
  const out: string[] = [];
  out.push(`# Paper benchmark (${m.steady ? 'steady' : 'bursty'} workload), ${m.at}`);
  out.push('');
  out.push(
    `Made by \`npm run bench -- paper --json${m.steady ? ' --steady' : ''}${p.rounds > 1 ? ` --rounds ${p.rounds}` : ''}\` (results pooled over ${p.rounds} round${p.rounds > 1 ? 's' : ''}) in ${Math.round(m.elapsedS)} s on the 2-core development machine, shared with the broker and with other jobs: timings are noisy. Rate ${JSON.stringify(p.rate)} events/s, hot auction ratio ${p.hotAuctionRatio}, added busy wait per bid (ms) ${JSON.stringify(p.costMs)} in hb.aggregate, q7.highest and q5.count; windows ${p.windowMs} ms, grace ${p.graceMs} ms; ${p.durationMs / 1000} s measured after ${p.warmupMs / 1000} s of warm-up. See docs/operations.md for what each number means.`,
  );
  out.push('');
  out.push(
    '| run | policy | worker processes | satisfaction (critical apps) | all apps | p50 ms | p99 ms | missing | wrong | worker-seconds | CPU-seconds | forwarded to lessees |',
  );
  out.push('| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |');
  for (const n of runs) {
    const x = r.runs[n]!;
    out.push(
      `| ${n} | ${x.policy}${x.leases ? ' + leasing' : ''} | ${x.workers} | ${x.overall.satisfaction} | ${x.allApps.satisfaction} | ${x.overall.p50Ms} | ${x.overall.p99Ms} | ${x.allApps.missing} | ${x.allApps.wrong} | ${x.workerSeconds} | ${x.cpuSeconds} | ${x.leasing.forwarded} |`,
    );
  }
  out.push('');
  out.push(
    'Per app (satisfaction, p50 / p99 latency after window end in ms, results expected, missing, wrong, handler seconds):',
  );
  out.push('');
  out.push(`| app | target ms | ${runs.join(' | ')} |`);
  out.push(`| --- | --- | ${runs.map(() => '---').join(' | ')} |`);
  for (const a of PAPER_APPS) {
    const cells = runs.map((n) => {
      const x = r.runs[n]!.apps[a];
      return `${x.satisfaction}, ${x.p50Ms} / ${x.p99Ms}, ${x.expected} exp, ${x.missing} miss, ${x.wrong} wrong, ${r.runs[n]!.handlerSeconds[a]} s`;
    });
    out.push(
      `| ${a}${p.critical.includes(a) ? ' (critical)' : ''} | ${p.targets[a]} | ${cells.join(' | ')} |`,
    );
  }
  out.push('');
  if (m.targets !== null) out.push(`Targets of the issue: \`${JSON.stringify(m.targets)}\``);
  out.push('');
  out.push(
    `Plots: [load and p99 latency](${m.base}-load-latency.svg), [lessees of the hot key](${m.base}-lessees.svg),`,
  );
  out.push(
    `[satisfaction per app and run](${m.base}-satisfaction.svg). The whole result: [${m.base}-latest.json](${m.base}-latest.json).`,
  );
  out.push('');
  out.push('Last stdout line:');
  out.push('');
  out.push('```json');
  out.push(JSON.stringify(m.line));
  out.push('```');
  out.push('');
  return out.join('\n');
}
