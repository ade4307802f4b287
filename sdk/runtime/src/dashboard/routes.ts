// The live view's HTTP routes on the worker's metrics port: GET /dashboard (the page), its script and style,
// uPlot (the charting library, served from node_modules: no CDN), GET /dashboard/events (server-sent events: the
// kept history first, then a frame a second) and GET /dashboard/frame (the latest frame as JSON).
import { readFileSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LiveView } from './live-view.ts';

const ASSETS = join(dirname(fileURLToPath(import.meta.url)), '..', '..', 'assets', 'dashboard');
const UPLOT = dirname(createRequire(import.meta.url).resolve('uplot/dist/uPlot.iife.min.js'));

const FILES: Readonly<Record<string, readonly [string, string]>> = {
  '/dashboard': [join(ASSETS, 'index.html'), 'text/html; charset=utf-8'],
  '/dashboard/': [join(ASSETS, 'index.html'), 'text/html; charset=utf-8'],
  '/dashboard/dashboard.js': [join(ASSETS, 'dashboard.js'), 'text/javascript; charset=utf-8'],
  '/dashboard/dashboard.css': [join(ASSETS, 'dashboard.css'), 'text/css; charset=utf-8'],
  '/dashboard/vendor/uPlot.iife.min.js': [join(UPLOT, 'uPlot.iife.min.js'), 'text/javascript; charset=utf-8'],
  '/dashboard/vendor/uPlot.min.css': [join(UPLOT, 'uPlot.min.css'), 'text/css; charset=utf-8'],
};

/** The route handler for the metrics server: true when it answered `path`. */
export function dashboardRoutes(view: LiveView): (path: string, res: ServerResponse) => boolean {
  const cache = new Map<string, Buffer>();
  return (path, res) => {
    const file = FILES[path];
    if (file !== undefined) {
      let body = cache.get(path);
      if (body === undefined) {
        body = readFileSync(file[0]);
        cache.set(path, body);
      }
      res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-cache' }).end(body);
      return true;
    }
    if (path === '/dashboard/frame') {
      const frames = view.history();
      const last = frames[frames.length - 1];
      const answer = (f: unknown) =>
        res.writeHead(200, { 'content-type': 'application/json' }).end(`${JSON.stringify(f)}\n`);
      if (last !== undefined) answer(last);
      else void view.sample().then(answer);
      return true;
    }
    if (path === '/dashboard/events') {
      res.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-cache',
        connection: 'keep-alive',
      });
      res.write(`retry: 2000\nevent: history\ndata: ${JSON.stringify(view.history())}\n\n`);
      const unsubscribe = view.subscribe((f) => res.write(`data: ${JSON.stringify(f)}\n\n`));
      res.on('close', unsubscribe);
      return true;
    }
    return false;
  };
}
