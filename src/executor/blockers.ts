/**
 * Who a statement waited for when it gave up on a lock timeout or deadlock. While a statement
 * waits, `pg_blocking_pids` read from a second connection names exactly whom it waits for,
 * whatever the lock: a table, a row (the transaction that holds it) or, for a concurrent index
 * build, the transactions whose older snapshots it waits out. Once the statement has given up,
 * pg_stat_activity only allows a good guess. `WaitWatch` combines both.
 */
import type pg from 'pg';
import {
  type Blocker,
  type BlockerHolds,
  backendPid,
  blockersOf,
  sessionsHolding,
} from '../catalog/activity.js';
import type { TableRef } from '../model/step.js';
import { sleep } from '../pg/backoff.js';
import type { Queryable } from '../pg/queryable.js';
import { qualifiedName } from '../pg/quote.js';

export function describeBlocker(b: Blocker): string {
  const parts = [`pid ${b.pid}`];
  if (b.applicationName) parts.push(`application "${b.applicationName}"`);
  if (b.state) parts.push(`state ${b.state}`);
  if (b.transactionStart) {
    const open =
      b.transactionSeconds === null ? '' : `open for ${Math.round(b.transactionSeconds)}s, `;
    parts.push(`transaction ${open}started ${b.transactionStart}`);
  }
  if (b.queryStart) parts.push(`query started ${b.queryStart}`);
  if (b.mode) parts.push(`holds ${b.mode}`);
  if (b.query) parts.push(`last query: ${b.query.replace(/\s+/g, ' ').trim()}`);
  return parts.join(', ');
}

/** What a waiting statement's blocker holds, to look for it once the wait is over. */
export interface WaitedFor {
  /** The table the statement locks: sessions holding a lock on it are named first. */
  table?: TableRef;
  /** Besides its locks, what the blocker's transaction holds. */
  holds: BlockerHolds;
}

const LOCK_NOT_AVAILABLE = '55P03';

/**
 * The likely blockers of a statement that has just given up waiting: the database's client
 * sessions whose transaction was open before the wait began (a lock timeout means it waited
 * `waitedMs`) and holds what `waited` says, oldest first; those holding a lock on its table, if
 * any, alone.
 */
export async function blockersAfterWait(
  db: Queryable,
  waited: WaitedFor,
  waitedMs: number,
): Promise<Blocker[]> {
  try {
    const rows = await sessionsHolding(
      db,
      waited.table ? qualifiedName(waited.table.schema, waited.table.name) : null,
      waited.holds,
      waitedMs / 1000,
    );
    const onTable = rows.filter((b) => b.mode !== null);
    return onTable.length > 0 ? onTable : rows;
  } catch {
    return [];
  }
}

/** Opens a second connection to the database, to look at a session while it waits. */
export type OpenConnection = () => Promise<pg.Client>;

/**
 * Finds the blockers of one statement (or batch) that may be retried after lock timeouts.
 * After the first timeout it guesses (`blockersAfterWait`) and opens a second connection, from
 * which it watches the retries: while a retry waits, `pg_blocking_pids` names its blockers
 * exactly. `close` ends that connection; a later wait opens another.
 */
export class WaitWatch {
  private observer: Observer | undefined;

  constructor(
    private readonly db: Queryable,
    private readonly waited: WaitedFor,
    private readonly lockTimeoutMs: number,
    private readonly open?: OpenConnection,
  ) {}

  /** Runs one attempt, watched from the second connection once an earlier attempt waited. */
  attempt<T>(work: () => Promise<T>): Promise<T> {
    return this.observer ? this.observer.during(work) : work();
  }

  /** Whom the failed attempt waited for: seen while it waited, else the likely ones. */
  async blockers(error: unknown): Promise<Blocker[]> {
    const seen = this.observer?.seen ?? [];
    if (!this.observer && this.open) await this.startObserver(this.open);
    if (seen.length > 0) return seen;
    const code = (error as { code?: string }).code;
    return blockersAfterWait(
      this.db,
      this.waited,
      code === LOCK_NOT_AVAILABLE ? this.lockTimeoutMs : 0,
    );
  }

  async close(): Promise<void> {
    const observer = this.observer;
    this.observer = undefined;
    await observer?.close();
  }

  private async startObserver(open: OpenConnection): Promise<void> {
    try {
      const pid = await backendPid(this.db);
      if (pid === undefined) return;
      // Often enough to see each wait, which lasts lock_timeout, a few times.
      const intervalMs = Math.min(250, Math.max(10, Math.floor(this.lockTimeoutMs / 4)));
      this.observer = new Observer(open, pid, this.waited.table, intervalMs);
    } catch {
      // Without its pid the session cannot be watched: the likely blockers have to do.
    }
  }
}

/** A second connection that reads, while work runs on the watched session, whom it waits for. */
class Observer {
  /** The blockers last seen during the latest `during`. */
  seen: Blocker[] = [];
  private client: pg.Client | undefined;
  private closed = false;

  constructor(
    open: OpenConnection,
    private readonly pid: number,
    private readonly table: TableRef | undefined,
    private readonly intervalMs: number,
  ) {
    // Opened in the background: an attempt that starts before it is ready runs unwatched.
    open().then(
      (client) => {
        if (this.closed) void client.end().catch(() => {});
        else this.client = client;
      },
      () => {},
    );
  }

  async during<T>(work: () => Promise<T>): Promise<T> {
    this.seen = [];
    const client = this.client;
    if (!client) return work();
    let running = true;
    let finished = () => {};
    const done = new Promise<void>((resolve) => {
      finished = resolve;
    });
    const looking = (async () => {
      while (running) {
        const found = await this.waitingFor(client);
        if (found.length > 0) this.seen = found;
        await Promise.race([sleep(this.intervalMs), done]);
      }
    })();
    try {
      return await work();
    } finally {
      running = false;
      finished();
      await looking;
    }
  }

  /** The sessions the watched one waits for now; none when it does not wait for a lock. */
  private async waitingFor(client: pg.Client): Promise<Blocker[]> {
    try {
      return await blockersOf(
        client,
        this.pid,
        this.table ? qualifiedName(this.table.schema, this.table.name) : null,
      );
    } catch {
      return [];
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    await this.client?.end().catch(() => {});
  }
}
