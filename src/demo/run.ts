/** `tidal demo`: one change made the Big Bang way and tidal's way under live traffic, and what
 *  the application felt in each. */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { type EmbeddedServer, startEmbeddedPostgres } from '../pg/embedded.js';
import { ident } from '../pg/quote.js';
import type { TidalEvent } from '../tidal.js';
import {
  BIG_BANG_SQL,
  bigBangWay,
  DEMO_MIGRATION,
  renderComparison,
  tidalWay,
  type WayReport,
} from './compare.js';

export interface DemoOptions {
  /** Rows in the demo table. */
  rows: number;
  /** Transactions per second of the application. */
  rate: number;
  /** How long the traffic runs before, between and after the steps of each way. */
  phaseMs: number;
  /** A server to create a throwaway database on; without it, an embedded PostgreSQL. */
  serverUrl?: string;
  say: (line: string) => void;
  onEvent: (event: TidalEvent) => void;
}

export interface DemoReport {
  ways: WayReport[];
  lockTimeoutMs: number;
}

const LOCK_TIMEOUT_MS = 500;

export async function runDemo(options: DemoOptions): Promise<DemoReport> {
  const { say } = options;
  let server: EmbeddedServer | undefined;
  let serverUrl = options.serverUrl;
  if (!serverUrl) {
    say('Starting a throwaway PostgreSQL in a temporary directory...');
    server = await startEmbeddedPostgres();
    serverUrl = server.url;
    say(`  PostgreSQL ${server.major} is up.`);
  }
  const database = `tidal_demo_${randomBytes(4).toString('hex')}`;
  const admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  try {
    await admin.query(`CREATE DATABASE ${ident(database)}`);
    const url = new URL(serverUrl);
    url.pathname = `/${database}`;
    const compare = {
      url: url.toString(),
      rows: options.rows,
      rate: options.rate,
      phaseMs: options.phaseMs,
      say,
      onEvent: options.onEvent,
      lockTimeoutMs: LOCK_TIMEOUT_MS,
    };
    say(
      `\nA table "accounts" of ${options.rows.toLocaleString('en')} rows serves ${options.rate} transactions/s (60% reads, 30% updates, 10% inserts) on 4 connections.`,
    );
    say('The change: add a NOT NULL column computed from another, and widen a column to bigint.');
    say('\n1. The Big Bang way: plain SQL in one transaction, then the new application deployed:');
    say(BIG_BANG_SQL.map((sql) => `    ${sql};`).join('\n'));
    const bigBang = await bigBangWay(compare);
    say("\n2. tidal's way, on a freshly seeded table, with this migration:");
    say(DEMO_MIGRATION.trim().replace(/^/gm, '    '));
    const tidal = await tidalWay(compare);
    return { ways: [bigBang, tidal], lockTimeoutMs: LOCK_TIMEOUT_MS };
  } finally {
    await admin.query(`DROP DATABASE IF EXISTS ${ident(database)} WITH (FORCE)`).catch(() => {});
    await admin.end();
    await server?.stop();
  }
}

/** The report as a table, in plain words. */
export function renderDemoReport(report: DemoReport): string {
  return [
    '',
    'What the application felt:',
    '',
    renderComparison(report.ways, report.lockTimeoutMs),
    '',
    'Latency counts from when each transaction was due, so a stall shows in full for everything',
    'queued behind it; "longest stall" is the longest time in which no transaction finished.',
    'The Big Bang way holds an ACCESS EXCLUSIVE lock while it rewrites the table: every query',
    'waits, and the old application breaks as soon as it commits (its inserts lack the new',
    'NOT NULL column). tidal only ever waits lock_timeout for a lock, backfills in short batches,',
    'and keeps both application versions working until complete.',
  ].join('\n');
}
