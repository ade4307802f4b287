// The Dirigo live view in the browser: frames arrive by server-sent events from /dashboard/events (the kept
// history first, then one a second); tables show the latest frame, uPlot charts the last five minutes.
// Every number in a table also sits raw in its cell's data-value, for tests and copy-paste.
/* global uPlot */

const HISTORY = 300;
const COLORS = ['#1f77b4', '#d62728', '#2ca02c', '#ff7f0e', '#9467bd', '#8c564b', '#e377c2', '#17becf'];
const frames = [];
const charts = new Map();

const $ = (id) => document.getElementById(id);
const text = (v, digits = 0) => (v === null || v === undefined ? '–' : Number(v).toFixed(digits));
const pct = (v) => (v === null || v === undefined ? '–' : `${(v * 100).toFixed(1)} %`);
const msText = (v) =>
  v === null || v === undefined ? '–' : v < 10 ? `${v.toFixed(2)} ms` : `${v.toFixed(0)} ms`;
const slug = (s) => String(s).replace(/[^A-Za-z0-9_-]/g, '_');

/** A table cell: shown text, raw value in data-value, a test id. */
function cell(shown, raw, testId, cls) {
  const td = document.createElement('td');
  td.textContent = shown;
  if (raw !== undefined) td.dataset.value = raw === null ? '' : String(raw);
  if (testId !== undefined) td.dataset.testid = testId;
  if (cls) td.className = cls;
  return td;
}

function fillTable(id, rows, emptyText) {
  const body = $(id).querySelector('tbody');
  body.replaceChildren();
  if (rows.length === 0) {
    const tr = document.createElement('tr');
    const td = document.createElement('td');
    td.colSpan = $(id).querySelectorAll('th').length;
    td.className = 'empty';
    td.textContent = emptyText;
    tr.append(td);
    body.append(tr);
    return;
  }
  for (const cells of rows) {
    const tr = document.createElement('tr');
    tr.append(...cells);
    body.append(tr);
  }
}

function renderTables(f) {
  $('worker').textContent = f.worker;
  $('updated').textContent = new Date(f.at).toLocaleTimeString();
  $('updated').dataset.value = String(f.at);
  fillTable(
    'apps',
    Object.entries(f.apps).map(([app, a]) => {
      const id = `app-${slug(app)}`;
      const late = (v) => (v !== null && v > a.targetMs ? 'miss' : '');
      return [
        cell(app, app, `${id}-name`),
        cell(`${a.targetMs} ms`, a.targetMs, `${id}-target`),
        cell(msText(a.p50Ms), a.p50Ms, `${id}-p50`, late(a.p50Ms)),
        cell(msText(a.p99Ms), a.p99Ms, `${id}-p99`, late(a.p99Ms)),
        cell(pct(a.recentSatisfaction), a.recentSatisfaction, `${id}-recent-satisfaction`),
        cell(text(a.met), a.met, `${id}-met`),
        cell(text(a.missed), a.missed, `${id}-missed`),
        cell(pct(a.satisfaction), a.satisfaction, `${id}-satisfaction`),
        cell(msText(a.p50AllMs), a.p50AllMs, `${id}-p50-all`),
        cell(msText(a.p99AllMs), a.p99AllMs, `${id}-p99-all`),
      ];
    }),
    'no apps',
  );
  fillTable(
    'workers',
    f.workers.map((w) => {
      const id = `worker-${slug(w.id)}`;
      return [
        cell(w.self ? `${w.id} (this worker)` : w.id, w.id, `${id}-name`),
        cell(text(w.queued), w.queued, `${id}-queued`),
        cell(w.self ? text(w.inFlight) : '–', w.inFlight, `${id}-in-flight`),
        cell(pct(w.utilisation), w.utilisation, `${id}-utilisation`),
      ];
    }),
    'no workers',
  );
  fillTable(
    'functions',
    f.functions.map((x) => {
      const id = `fn-${slug(x.app)}-${slug(x.fn)}`;
      return [
        cell(`${x.app}.${x.fn}`, `${x.app}.${x.fn}`, `${id}-name`),
        cell(text(x.processed), x.processed, `${id}-processed`),
        cell(text(x.deadLettered), x.deadLettered, `${id}-dead-lettered`),
        cell(text(x.queued), x.queued, `${id}-queued`),
        cell(text(x.lag), x.lag, `${id}-lag`),
      ];
    }),
    'no functions yet',
  );
  fillTable(
    'leases',
    f.leases.map((l) => {
      const id = `lease-${slug(l.app)}-${slug(l.fn)}-${slug(l.key)}`;
      const lessees = l.lessees.map((s) => `${s.slot} → ${s.worker ?? '?'}`).join(', ');
      return [
        cell(`${l.app}.${l.fn}`, `${l.app}.${l.fn}`, `${id}-fn`),
        cell(l.key, l.key, `${id}-key`),
        cell(text(l.partition), l.partition, `${id}-partition`),
        cell(text(l.epoch), l.epoch, `${id}-epoch`),
        cell(l.mode, l.mode, `${id}-mode`),
        cell(lessees || 'none', l.lessees.length, `${id}-lessees`),
        cell(text(l.waiting), l.waiting, `${id}-waiting`),
      ];
    }),
    'no leases held here',
  );
  const c = f.leaseCounters;
  const counters = [
    ['granted', 'leases granted'],
    ['forwarded', 'messages forwarded'],
    ['barriers', 'barriers'],
    ['syncs', 'sync rounds'],
    ['merged', 'partials merged'],
    ['revoked', 'lessees revoked'],
  ].flatMap(([k, label], i) => {
    const b = document.createElement('b');
    b.textContent = String(c[k]);
    b.dataset.testid = `lease-${k}`;
    b.dataset.value = String(c[k]);
    return [i === 0 ? 'since start: ' : ', ', b, ` ${label}`];
  });
  $('lease-counters').replaceChildren(...counters);
}

/** Draws (or redraws with new data) a time-series chart; a new set of series makes a new chart. */
function drawChart(id, title, series, data, yRange) {
  const el = $(id);
  const key = series.map((s) => s.label).join('|');
  const existing = charts.get(id);
  if (existing !== undefined && existing.key === key) {
    existing.plot.setData(data);
    return;
  }
  existing?.plot.destroy();
  const opts = {
    title,
    width: el.clientWidth || 560,
    height: 220,
    scales: { x: { time: true }, ...(yRange ? { y: { range: yRange } } : {}) },
    series: [
      {},
      ...series.map((s, i) => ({
        label: s.label,
        stroke: s.stroke ?? COLORS[i % COLORS.length],
        width: 1.5,
        ...(s.dash ? { dash: s.dash } : {}),
        spanGaps: false,
      })),
    ],
    axes: [{}, { size: 60 }],
  };
  charts.set(id, { key, plot: new uPlot(opts, data, el) });
}

/** Columns of one value per frame: x (seconds) and one array per series. */
function columns(pickers) {
  const xs = frames.map((f) => f.at / 1000);
  return [xs, ...pickers.map((p) => frames.map((f) => p(f) ?? null))];
}

function renderCharts() {
  if (frames.length === 0) return;
  const last = frames[frames.length - 1];
  const apps = Object.keys(last.apps).sort();
  drawChart(
    'chart-satisfaction',
    'Satisfaction per app (met / completed, last 10 s)',
    apps.map((a) => ({ label: a })),
    columns(apps.map((a) => (f) => f.apps[a]?.recentSatisfaction)),
    [0, 1],
  );
  const box = $('latency-charts');
  for (const app of apps) {
    const id = `chart-latency-${slug(app)}`;
    if ($(id) === null) {
      const div = document.createElement('div');
      div.className = 'chart';
      div.id = id;
      box.append(div);
    }
    drawChart(
      id,
      `${app}: latency p50 / p99 (last 10 s) vs target, ms`,
      [{ label: 'p50' }, { label: 'p99' }, { label: 'target', stroke: '#555', dash: [6, 4] }],
      columns([(f) => f.apps[app]?.p50Ms, (f) => f.apps[app]?.p99Ms, (f) => f.apps[app]?.targetMs]),
    );
  }
  const workers = [...new Set(frames.flatMap((f) => f.workers.map((w) => w.id)))].sort();
  const workerOf = (f, id) => f.workers.find((w) => w.id === id);
  drawChart(
    'chart-queues',
    'Queued messages per worker',
    workers.map((w) => ({ label: w })),
    columns(workers.map((w) => (f) => workerOf(f, w)?.queued)),
  );
  drawChart(
    'chart-utilisation',
    'Utilisation per worker (busy / wall, last 10 s)',
    workers.map((w) => ({ label: w })),
    columns(workers.map((w) => (f) => workerOf(f, w)?.utilisation)),
    [0, 1],
  );
  const fns = [...new Set(frames.flatMap((f) => f.functions.map((x) => `${x.app}.${x.fn}`)))].sort();
  drawChart(
    'chart-lag',
    'Lag per function on this worker (offsets)',
    fns.map((x) => ({ label: x })),
    columns(fns.map((name) => (f) => f.functions.find((x) => `${x.app}.${x.fn}` === name)?.lag)),
  );
  // Hot keys: the keys leased most often in the history, their lessee count over time.
  const seen = new Map();
  for (const f of frames)
    for (const l of f.leases) seen.set(`${l.fn}/${l.key}`, (seen.get(`${l.fn}/${l.key}`) ?? 0) + 1);
  const keys = [...seen.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 6)
    .map(([k]) => k);
  drawChart(
    'chart-lessees',
    'Lessees per hot key (0: not leased)',
    keys.map((k) => ({ label: k })),
    columns(keys.map((k) => (f) => f.leases.find((l) => `${l.fn}/${l.key}` === k)?.lessees.length ?? 0)),
  );
  drawChart(
    'chart-barriers',
    'Barriers and forwards per second (this worker as lessor)',
    [{ label: 'barriers/s' }, { label: 'forwards/s' }],
    columns([
      (f, i = frames.indexOf(f)) => rate(i, (x) => x.leaseCounters.barriers),
      (f, i = frames.indexOf(f)) => rate(i, (x) => x.leaseCounters.forwarded),
    ]),
  );
}

function rate(i, pick) {
  if (i <= 0) return null;
  const a = frames[i - 1];
  const b = frames[i];
  const dt = (b.at - a.at) / 1000;
  return dt > 0 ? Math.max(0, (pick(b) - pick(a)) / dt) : null;
}

function render() {
  if (frames.length === 0) return;
  renderTables(frames[frames.length - 1]);
  renderCharts();
  document.body.dataset.frames = String(frames.length);
}

function push(f) {
  frames.push(f);
  if (frames.length > HISTORY) frames.shift();
}

const events = new EventSource('/dashboard/events');
events.addEventListener('history', (e) => {
  frames.length = 0;
  for (const f of JSON.parse(e.data)) push(f);
  render();
});
events.onmessage = (e) => {
  push(JSON.parse(e.data));
  render();
};
events.onopen = () => {
  $('status').textContent = 'live';
  $('status').className = 'live';
};
events.onerror = () => {
  $('status').textContent = 'reconnecting';
  $('status').className = 'down';
};
