/**
 * `tidal dashboard`: a web page served by tidal itself, live through server-sent events. One
 * reading of the database a second (`Tidal.watch`) feeds every open page. The only requests
 * that change anything are the backfill controls (pause, resume, rate): off unless asked for,
 * and each needs the token the command prints.
 */
import { randomBytes, timingSafeEqual } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { isConnectionLost, messageOf, OperationError, TidalError } from '../errors.js';
import type { BackfillRequest } from '../lifecycle/backfill-control.js';
import type { Tidal, WatchSnapshot } from '../tidal.js';
import { type ObservedChange, type Sample, WatchHistory } from './history.js';

export interface DashboardOptions {
  /** Port to listen on (0: any free port). */
  port?: number;
  /** Address to listen on (default 127.0.0.1: this machine only). */
  host?: string;
  /** Whether the page may pause, resume and set the rate of the backfill. */
  controls?: boolean;
  /** How often the database is read, in milliseconds (default 1000). */
  intervalMs?: number;
  /** The token controls need; a random one when not given. */
  token?: string;
  /** Opens another connection when the one being read is lost (a restart, a failover, a
   *  terminated session); without it the dashboard shows the error until it is stopped. */
  reconnect?: () => Promise<Tidal>;
}

/** What each open page receives: the snapshot, the sample it made, and what changed. */
export interface DashboardUpdate {
  snapshot: WatchSnapshot | null;
  /** Why the last reading failed, if it did. */
  error: string | null;
  samples: Sample[];
  changes: ObservedChange[];
  controls: boolean;
}

export interface RunningDashboard {
  url: string;
  port: number;
  /** Needed by the controls (as `Authorization: Bearer TOKEN`); null when they are off. */
  token: string | null;
  close(): Promise<void>;
}

/** The page's files, shipped beside this module (`npm run build` copies them to dist/). */
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};

/** Where the dashboard listens unless told: this machine only. */
export const DEFAULT_DASHBOARD_HOST = '127.0.0.1';

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

export async function serveDashboard(
  tidal: Tidal,
  options: DashboardOptions = {},
): Promise<RunningDashboard> {
  const host = options.host ?? DEFAULT_DASHBOARD_HOST;
  const controls = options.controls ?? false;
  const token = controls ? (options.token ?? randomBytes(24).toString('base64url')) : null;
  const history = new WatchHistory();
  const pages = new Set<ServerResponse>();
  let latest: DashboardUpdate = { snapshot: null, error: null, samples: [], changes: [], controls };

  /** The connection read now; after a lost one, one of the dashboard's own (closed by it). */
  let source = tidal;
  let reconnected: Tidal | undefined;
  const read = async () => {
    try {
      const snapshot = await source.watch();
      const sample = history.add(snapshot);
      latest = { snapshot, error: null, samples: [sample], changes: history.changes, controls };
    } catch (error) {
      latest = { ...latest, error: messageOf(error), samples: [] };
      if (options.reconnect && isConnectionLost(error)) {
        const fresh = await options.reconnect().catch(() => undefined);
        if (fresh) {
          await reconnected?.close();
          source = reconnected = fresh;
        }
      }
    }
    for (const page of pages) send(page, latest);
  };
  /** The reading under way (or the last one), once the server listens. */
  let reading: Promise<void> = Promise.resolve();

  const server: Server = createServer((request, response) => {
    handle(request, response).catch((error: unknown) => {
      if (!response.headersSent) reply(response, 500, { error: messageOf(error) });
    });
  });

  const handle = async (request: IncomingMessage, response: ServerResponse) => {
    // A page of another site that rebinds its name to this address would be served too:
    // answer only to the names this server was reached by on purpose.
    const hostname = new URL(`http://${request.headers.host ?? ''}`).hostname;
    if (LOOPBACK.has(host) && !LOOPBACK.has(hostname)) {
      reply(response, 421, { error: `not served to host "${hostname}"` });
      return;
    }
    const path = new URL(request.url ?? '/', 'http://dashboard').pathname;
    if (request.method === 'GET' && path in ASSETS) {
      const asset = ASSETS[path] as { file: string; type: string };
      const body = await readFile(new URL(`./assets/${asset.file}`, import.meta.url));
      response
        .writeHead(200, {
          'content-type': asset.type,
          'cache-control': 'no-store',
          'content-security-policy':
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'",
          'x-content-type-options': 'nosniff',
        })
        .end(body);
      return;
    }
    if (request.method === 'GET' && path === '/api/snapshot') {
      await reading;
      reply(response, 200, { ...latest, samples: history.samples });
      return;
    }
    if (request.method === 'GET' && path === '/api/events') {
      response.writeHead(200, {
        'content-type': 'text/event-stream',
        'cache-control': 'no-store',
        connection: 'keep-alive',
      });
      // The history first, so a page opened late draws the last ten minutes.
      send(response, { ...latest, samples: history.samples });
      pages.add(response);
      request.on('close', () => pages.delete(response));
      return;
    }
    if (request.method === 'POST' && path === '/api/backfill') {
      if (!token) {
        reply(response, 403, {
          error: 'controls are off: start `tidal dashboard --controls` to pause, resume or rate',
        });
        return;
      }
      if (!sameToken(request.headers.authorization, token)) {
        reply(response, 401, { error: 'this needs the token `tidal dashboard` printed' });
        return;
      }
      const command = backfillRequest(await body(request));
      if (typeof command === 'string') {
        reply(response, 400, { error: command });
        return;
      }
      try {
        reply(response, 200, await source.backfill(command, { continueHere: false }));
      } catch (error) {
        reply(response, error instanceof TidalError ? 409 : 500, { error: messageOf(error) });
      }
      reading = reading.then(read);
      return;
    }
    reply(response, 404, { error: `no ${request.method} ${path}` });
  };

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) =>
      reject(
        new OperationError(
          `cannot serve the dashboard at ${host} port ${options.port ?? 0}: ${error.code === 'EADDRINUSE' ? 'the port is in use (--port 0 takes any free one)' : error.message}`,
        ),
      ),
    );
    server.listen(options.port ?? 0, host, resolve);
  });
  // One reading at a time: a slow database delays the next rather than piling them up.
  reading = read();
  const timer = setInterval(() => {
    reading = reading.then(read);
  }, options.intervalMs ?? 1000);
  const port = (server.address() as AddressInfo).port;
  const shownHost = host.includes(':') ? `[${host}]` : host;
  return {
    url: `http://${shownHost}:${port}/`,
    port,
    token,
    async close() {
      clearInterval(timer);
      for (const page of pages) page.end();
      pages.clear();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await reading;
      await reconnected?.close();
    },
  };
}

function send(page: ServerResponse, update: DashboardUpdate): void {
  page.write(`data: ${JSON.stringify(update)}\n\n`);
}

function reply(response: ServerResponse, status: number, body: unknown): void {
  response
    .writeHead(status, { 'content-type': 'application/json', 'cache-control': 'no-store' })
    .end(JSON.stringify(body));
}

function sameToken(header: string | undefined, token: string): boolean {
  const given = Buffer.from(/^Bearer (.+)$/.exec(header ?? '')?.[1] ?? '');
  const expected = Buffer.from(token);
  return given.length === expected.length && timingSafeEqual(given, expected);
}

/** A request body of at most a few kilobytes, as JSON. */
async function body(request: IncomingMessage): Promise<unknown> {
  let text = '';
  for await (const chunk of request) {
    text += chunk;
    if (text.length > 4096) return undefined;
  }
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}

/** `{"pause": true}`, `{"resume": true}` or `{"rowsPerSecond": N}`; else what is wrong. */
function backfillRequest(value: unknown): BackfillRequest | string {
  const given = (value ?? {}) as Record<string, unknown>;
  if (given.pause === true) return { pause: true };
  if (given.resume === true) return { resume: true };
  const rate = given.rowsPerSecond;
  if (typeof rate === 'number' && Number.isInteger(rate) && rate > 0)
    return { rowsPerSecond: rate };
  return 'expected {"pause": true}, {"resume": true} or {"rowsPerSecond": N} (a positive integer)';
}
