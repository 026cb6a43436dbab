import type pg from 'pg';
import type { Blocker } from '../catalog/activity.js';
import { indexState } from '../catalog/objects.js';
import { LockTimeoutError, OperationError } from '../errors.js';
import type { Step, TableRef } from '../model/step.js';
import { backoffDelay, sleep } from '../pg/backoff.js';
import type { Queryable } from '../pg/queryable.js';
import { qualifiedName } from '../pg/quote.js';
import { describeBlocker, type OpenConnection, WaitWatch } from './blockers.js';
import { SAMPLE_SIZE, sampleViolations } from './violations.js';

export interface LockPolicy {
  /** How long one statement may wait for a lock (`lock_timeout`). */
  lockTimeoutMs: number;
  /** How long a step keeps retrying after lock timeouts before tidal gives up. */
  retryDeadlineMs: number;
}

export const DEFAULT_LOCK_POLICY: LockPolicy = { lockTimeoutMs: 500, retryDeadlineMs: 120_000 };

export type StepEvent =
  | { type: 'step-start'; step: Step }
  | { type: 'step-done'; step: Step; ms: number; attempts: number }
  | { type: 'lock-retry'; step: Step; attempt: number; waitMs: number; blockers: Blocker[] };

const LOCK_NOT_AVAILABLE = '55P03';
const DEADLOCK_DETECTED = '40P01';

/** How one step ran: when it began, how long it took in all, how many attempts its lock
 *  took, and how long it waited before the attempt that got it (timeouts and backoff). */
export interface StepRun {
  startedAt: Date;
  ms: number;
  attempts: number;
  waitedMs: number;
}

/** Runs steps one statement at a time on a dedicated connection, each with `lock_timeout`,
 *  retrying lock timeouts with jittered exponential backoff until a deadline. */
export class StepRunner {
  constructor(
    private readonly client: pg.Client,
    private readonly policy: LockPolicy = DEFAULT_LOCK_POLICY,
    private readonly onEvent: (event: StepEvent) => void = () => {},
    /** A second connection to watch a waiting step from; without it, blockers are guessed. */
    private readonly openObserver?: OpenConnection,
  ) {}

  /**
   * Runs one step. `record` runs after the statement: in the same transaction for transactional
   * steps (so the statement and the record of it commit together), right after it otherwise.
   */
  async run(step: Step, record?: (db: Queryable) => Promise<void>): Promise<StepRun> {
    this.onEvent({ type: 'step-start', step });
    const started = Date.now();
    const deadline = started + this.policy.retryDeadlineMs;
    const watch = new WaitWatch(
      this.client,
      // A concurrent index build waits out every older snapshot, whatever table it was taken for.
      step.invalidIndex ? { holds: 'snapshot' } : { table: step.table, holds: 'locks' },
      this.policy.lockTimeoutMs,
      this.openObserver,
    );
    try {
      for (let attempt = 1; ; attempt++) {
        const attemptStarted = Date.now();
        try {
          await watch.attempt(() =>
            step.transactional ? this.runInTransaction(step, record) : this.runAlone(step, record),
          );
          const ms = Date.now() - started;
          this.onEvent({ type: 'step-done', step, ms, attempts: attempt });
          return {
            startedAt: new Date(started),
            ms,
            attempts: attempt,
            waitedMs: attemptStarted - started,
          };
        } catch (error) {
          const code = (error as { code?: string }).code;
          if (code !== LOCK_NOT_AVAILABLE && code !== DEADLOCK_DETECTED) {
            throw stepFailure(step, error);
          }
          if (step.invalidIndex) await this.dropIfInvalid(step.invalidIndex);
          const blockers = await watch.blockers(error);
          const waitMs = backoffDelay(attempt - 1);
          if (Date.now() + waitMs > deadline) {
            throw new LockTimeoutError(lockGiveUpMessage(step, attempt, this.policy, blockers));
          }
          this.onEvent({ type: 'lock-retry', step, attempt, waitMs, blockers });
          await sleep(waitMs);
        }
      }
    } finally {
      await watch.close();
    }
  }

  private async runInTransaction(
    step: Step,
    record?: (db: Queryable) => Promise<void>,
  ): Promise<void> {
    await this.client.query('BEGIN');
    try {
      await this.client.query(`SET LOCAL lock_timeout = ${this.policy.lockTimeoutMs}`);
      await this.client.query(step.sql);
      if (record) await record(this.client);
      await this.client.query('COMMIT');
    } catch (error) {
      await this.client.query('ROLLBACK').catch(() => {});
      throw await this.withSample(step, error);
    }
  }

  private async runAlone(step: Step, record?: (db: Queryable) => Promise<void>): Promise<void> {
    await this.client.query(`SET lock_timeout = ${this.policy.lockTimeoutMs}`);
    try {
      await this.client.query(step.sql);
    } catch (error) {
      // Before the failed index is dropped: the sample reads its columns.
      await this.withSample(step, error);
      if (step.invalidIndex) await this.dropIfInvalid(step.invalidIndex).catch(() => {});
      throw error;
    } finally {
      await this.client.query('RESET lock_timeout').catch(() => {});
    }
    if (record) await record(this.client);
  }

  /** Names rows that break the constraint a failed step was validating (see violations.ts). */
  private async withSample(step: Step, error: unknown): Promise<unknown> {
    if (step.table && typeof error === 'object' && error !== null) {
      const offending = await sampleViolations(this.client, step.table, error);
      if (offending.length > 0) Object.assign(error, { offending });
    }
    return error;
  }

  /** A failed CREATE INDEX CONCURRENTLY leaves an invalid index that still slows writes. */
  private async dropIfInvalid(index: TableRef): Promise<void> {
    const name = qualifiedName(index.schema, index.name);
    if ((await indexState(this.client, name)) === 'invalid') {
      await this.client.query(`DROP INDEX CONCURRENTLY IF EXISTS ${name}`);
    }
  }
}

function lockGiveUpMessage(
  step: Step,
  attempts: number,
  policy: LockPolicy,
  blockers: Blocker[],
): string {
  const target = step.table ? ` on ${qualifiedName(step.table.schema, step.table.name)}` : '';
  const held =
    blockers.length > 0
      ? `; blocked by ${blockers.map(describeBlocker).join('; ')}`
      : '; the blocking session had ended by the time tidal looked';
  return (
    `could not obtain the lock${target} within ${Math.round(policy.retryDeadlineMs / 1000)}s ` +
    `(${attempts} attempts, lock_timeout ${policy.lockTimeoutMs}ms) for: ${step.sql}${held}`
  );
}

function stepFailure(step: Step, error: unknown): OperationError {
  const e = error as { message?: string; detail?: string; hint?: string; offending?: string[] };
  const detail = [e.detail, e.hint].filter(Boolean).join(' ');
  const rows = e.offending?.length
    ? `\n  rows that break it: ${e.offending.join('; ')}${e.offending.length === SAMPLE_SIZE ? ', ...' : ''}`
    : '';
  return new OperationError(
    `${step.summary} failed: ${e.message ?? String(error)}${detail ? ` (${detail})` : ''}${rows}\n  statement: ${step.sql}`,
    { cause: error },
  );
}
