// Test helper: a strict parser of the Prometheus text exposition format (version 0.0.4), for tests that scrape a
// worker's /metrics over HTTP. It rejects what Prometheus would reject or misread: a malformed line, a bad
// metric or label name, bad escaping, a sample before its family's TYPE or outside it, a duplicate series, and
// histograms whose buckets are not cumulative or lack `le="+Inf"` equal to `_count`.

export interface PromSample {
  /** The exposition name (`x_bucket`, `x_sum`, `x_count` for histogram `x`). */
  readonly name: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly value: number;
}

export interface PromScrape {
  /** Family name -> its TYPE ('counter', 'gauge', 'histogram', 'summary', 'untyped'). */
  readonly types: ReadonlyMap<string, string>;
  readonly samples: readonly PromSample[];
}

const METRIC = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;
const TYPES = new Set(['counter', 'gauge', 'histogram', 'summary', 'untyped']);

function parseValue(s: string, line: string): number {
  // Prometheus reads these case-insensitively (prom-client writes 'Nan').
  const lower = s.toLowerCase();
  if (lower === '+inf' || lower === 'inf') return Number.POSITIVE_INFINITY;
  if (lower === '-inf') return Number.NEGATIVE_INFINITY;
  if (lower === 'nan') return Number.NaN;
  const v = Number(s);
  if (s === '' || Number.isNaN(v)) throw new Error(`bad value '${s}' in: ${line}`);
  return v;
}

/** Parses one sample line: name, labels and value (a timestamp, if any, is checked and dropped). */
function parseSample(line: string): PromSample {
  let i = 0;
  while (i < line.length && /[a-zA-Z0-9_:]/.test(line[i]!)) i++;
  const name = line.slice(0, i);
  if (!METRIC.test(name)) throw new Error(`bad metric name in: ${line}`);
  const labels: Record<string, string> = {};
  if (line[i] === '{') {
    i++;
    while (line[i] !== '}') {
      const eq = line.indexOf('=', i);
      if (eq < 0) throw new Error(`bad labels in: ${line}`);
      const label = line.slice(i, eq).trim();
      if (!LABEL.test(label)) throw new Error(`bad label name '${label}' in: ${line}`);
      if (label in labels) throw new Error(`duplicate label '${label}' in: ${line}`);
      if (line[eq + 1] !== '"') throw new Error(`label value not quoted in: ${line}`);
      let v = '';
      let j = eq + 2;
      for (; j < line.length && line[j] !== '"'; j++) {
        if (line[j] === '\\') {
          const e = line[++j];
          if (e === 'n') v += '\n';
          else if (e === '\\' || e === '"') v += e;
          else throw new Error(`bad escape '\\${e}' in: ${line}`);
        } else v += line[j];
      }
      if (line[j] !== '"') throw new Error(`unterminated label value in: ${line}`);
      labels[label] = v;
      i = j + 1;
      if (line[i] === ',') i++;
      else if (line[i] !== '}') throw new Error(`expected ',' or '}' in: ${line}`);
    }
    i++;
  }
  if (line[i] !== ' ') throw new Error(`expected a space before the value in: ${line}`);
  const rest = line
    .slice(i + 1)
    .trim()
    .split(/\s+/);
  if (rest.length > 2) throw new Error(`trailing text in: ${line}`);
  if (rest.length === 2 && !/^-?\d+$/.test(rest[1]!)) throw new Error(`bad timestamp in: ${line}`);
  return { name, labels, value: parseValue(rest[0]!, line) };
}

/** Parses and checks Prometheus text; throws naming the first problem. */
export function parseScrape(text: string): PromScrape {
  const types = new Map<string, string>();
  const samples: PromSample[] = [];
  const seen = new Set<string>();
  let family: string | undefined;
  for (const line of text.split('\n')) {
    if (line.trim() === '') continue;
    if (line.startsWith('#')) {
      const m = /^# (HELP|TYPE) (\S+)(?: (.*))?$/.exec(line);
      if (m === null) continue; // a comment
      const [, kind, name, rest] = m;
      if (!METRIC.test(name!)) throw new Error(`bad metric name in: ${line}`);
      if (kind === 'TYPE') {
        if (!TYPES.has(rest ?? '')) throw new Error(`bad type in: ${line}`);
        if (types.has(name!)) throw new Error(`second TYPE for ${name}`);
        types.set(name!, rest!);
      }
      family = name;
      continue;
    }
    const s = parseSample(line);
    const type = family === undefined ? undefined : types.get(family);
    const suffixes =
      type === 'histogram'
        ? ['_bucket', '_sum', '_count']
        : type === 'summary'
          ? ['', '_sum', '_count']
          : [''];
    if (family === undefined || !suffixes.some((x) => s.name === `${family}${x}`))
      throw new Error(`sample ${s.name} outside its family (current: ${family ?? 'none'})`);
    if (type === 'histogram' && s.name.endsWith('_bucket') && s.labels.le === undefined)
      throw new Error(`bucket without le: ${line}`);
    const id = `${s.name}${JSON.stringify(Object.entries(s.labels).sort())}`;
    if (seen.has(id)) throw new Error(`duplicate series: ${line}`);
    seen.add(id);
    samples.push(s);
  }
  checkHistograms(types, samples);
  return { types, samples };
}

/** Buckets cumulative in `le`, the +Inf bucket present and equal to `_count`, per series. */
function checkHistograms(types: ReadonlyMap<string, string>, samples: readonly PromSample[]): void {
  for (const [name, type] of types) {
    if (type !== 'histogram') continue;
    const series = new Map<string, { le: number; v: number }[]>();
    for (const s of samples) {
      if (s.name !== `${name}_bucket`) continue;
      const { le, ...rest } = s.labels;
      const k = JSON.stringify(Object.entries(rest).sort());
      const list = series.get(k) ?? [];
      list.push({ le: parseValue(le!, name), v: s.value });
      series.set(k, list);
    }
    for (const [k, list] of series) {
      list.sort((a, b) => a.le - b.le);
      for (let i = 1; i < list.length; i++)
        if (list[i]!.v < list[i - 1]!.v) throw new Error(`${name}${k}: buckets not cumulative`);
      const inf = list[list.length - 1]!;
      if (inf.le !== Number.POSITIVE_INFINITY) throw new Error(`${name}${k}: no +Inf bucket`);
      const count = samples.find(
        (s) => s.name === `${name}_count` && JSON.stringify(Object.entries(s.labels).sort()) === k,
      );
      if (count?.value !== inf.v)
        throw new Error(`${name}${k}: +Inf bucket ${inf.v} != _count ${count?.value}`);
    }
  }
}

/** GET http://127.0.0.1:<port>/metrics, parsed. */
export async function scrape(port: number): Promise<PromScrape> {
  const res = await fetch(`http://127.0.0.1:${port}/metrics`);
  if (!res.ok) throw new Error(`/metrics answered ${res.status}`);
  return parseScrape(await res.text());
}

/** Sum of the samples named `name` whose labels include `match`, over one or more scrapes. */
export function total(
  scrapes: PromScrape | readonly PromScrape[],
  name: string,
  match: Record<string, string> = {},
): number {
  let s = 0;
  for (const sc of Array.isArray(scrapes) ? scrapes : [scrapes as PromScrape]) {
    for (const x of sc.samples) {
      if (x.name !== name) continue;
      if (Object.entries(match).every(([k, v]) => x.labels[k] === v)) s += x.value;
    }
  }
  return s;
}
