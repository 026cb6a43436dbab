/**
 * A steady, fixed-rate application load on real connections, recording what every transaction
 * felt. Latency is measured from when a transaction was due, not when it was sent, so a stall
 * counts in full for everything queued behind it.
 */
import pg from 'pg';
import { sleep } from '../pg/backoff.js';
import { ident } from '../pg/quote.js';

/** The statements one application version runs; `$1` is a random existing id. */
export interface Workload {
  read: string;
  update: string;
  /** Returns the new row's `id`. */
  insert: string;
}

export interface TrafficOptions {
  url: string;
  /** The version schema the sessions use, or null for the plain tables. */
  versionSchema: string | null;
  connections: number;
  /** Transactions per second over all connections. */
  ratePerSecond: number;
  workload: Workload;
  /** Highest id at start; reads and updates pick ids up to it. */
  maxId: number;
}

export interface Transaction {
  /** When it was due to start, when it was sent and when it ended (performance.now(), ms). */
  due: number;
  start: number;
  end: number;
  ok: boolean;
  kind: 'read' | 'update' | 'insert';
  error?: string;
}

export class TrafficGroup {
  readonly transactions: Transaction[] = [];
  /** Ids of rows this group inserted, and updates it applied (each adds 1 to a balance). */
  readonly insertedIds: number[] = [];
  updatesApplied = 0;
  private running = false;
  private loops: Promise<void>[] = [];
  private clients: pg.Client[] = [];

  constructor(private readonly options: TrafficOptions) {}

  async start(): Promise<void> {
    const { url, versionSchema, connections } = this.options;
    for (let i = 0; i < connections; i++) {
      const client = new pg.Client({
        connectionString: url,
        application_name: `demo app ${versionSchema ?? 'public'}`,
      });
      client.on('error', () => {});
      await client.connect();
      await client.query(
        `SET search_path = ${versionSchema ? `${ident(versionSchema)}, ` : ''}public`,
      );
      this.clients.push(client);
    }
    this.running = true;
    const intervalMs = (1000 * connections) / this.options.ratePerSecond;
    this.loops = this.clients.map((client, i) =>
      this.loop(client, intervalMs, (i * intervalMs) / connections),
    );
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
    await Promise.all(this.clients.map((c) => c.end().catch(() => {})));
  }

  private async loop(client: pg.Client, intervalMs: number, offsetMs: number): Promise<void> {
    const { workload, maxId } = this.options;
    let due = performance.now() + offsetMs;
    while (this.running) {
      const wait = due - performance.now();
      if (wait > 0) await sleep(wait);
      if (!this.running) break;
      const roll = Math.random();
      const kind = roll < 0.6 ? 'read' : roll < 0.9 ? 'update' : 'insert';
      const id = 1 + Math.floor(Math.random() * maxId);
      const start = performance.now();
      try {
        if (kind === 'read') await client.query(workload.read, [id]);
        else if (kind === 'update') {
          const result = await client.query(workload.update, [id]);
          this.updatesApplied += result.rowCount ?? 0;
        } else {
          const result = await client.query<{ id: string }>(workload.insert, [`owner ${id}`]);
          this.insertedIds.push(Number(result.rows[0]?.id));
        }
        this.transactions.push({ due, start, end: performance.now(), ok: true, kind });
      } catch (error) {
        this.transactions.push({
          due,
          start,
          end: performance.now(),
          ok: false,
          kind,
          error: (error as Error).message,
        });
      }
      due += intervalMs;
    }
  }
}

export interface LatencySummary {
  transactions: number;
  failed: number;
  p50: number;
  p99: number;
  max: number;
  /** Longest time in which no transaction finished, ms. */
  longestStall: number;
  firstError?: string;
}

/** Latency figures of the transactions due within [from, to). */
export function summarize(transactions: Transaction[], from: number, to: number): LatencySummary {
  const window = transactions
    .filter((t) => t.due >= from && t.due < to)
    .sort((a, b) => a.end - b.end);
  // From when it was due, or sent if a timer fired a little early.
  const latencies = window.map((t) => t.end - Math.min(t.due, t.start)).sort((a, b) => a - b);
  const at = (q: number) =>
    latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  let stall = 0;
  let previous = from;
  for (const t of window) {
    stall = Math.max(stall, t.end - previous);
    previous = t.end;
  }
  const failed = window.filter((t) => !t.ok);
  return {
    transactions: window.length,
    failed: failed.length,
    p50: at(0.5),
    p99: at(0.99),
    max: latencies.at(-1) ?? 0,
    longestStall: stall,
    ...(failed[0]?.error ? { firstError: failed[0].error } : {}),
  };
}
