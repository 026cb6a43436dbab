/**
 * `tidal plan`: what it shows is what start and complete run, the locks it names are the ones
 * PostgreSQL takes, and it names the open transactions the first lock would wait for.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { DEMO_MIGRATION, seedAccounts } from '../../src/demo/compare.js';
import { StepRunner } from '../../src/executor/run.js';
import type { Step } from '../../src/model/step.js';
import type { PlanReport } from '../../src/planner/plan-report.js';
import { ownChain, pgrollChain, pgrollExamples } from '../helpers/chains.js';
import { rows } from '../helpers/cycle.js';
import { createTestDatabase, testServerMajor } from '../helpers/db.js';
import { observeLocks } from '../helpers/observe-locks.js';
import { migrationFromYaml, runCli, withTidal } from '../helpers/tidal.js';

describe('tidal plan', () => {
  it('shows the statements start and complete then run, in order', async () => {
    const db = await createTestDatabase();
    try {
      await seedAccounts(db.url, 2000);
      const loaded = await migrationFromYaml('cents', DEMO_MIGRATION);
      const { report } = await withTidal(db.url, (t) => t.plan(loaded));
      const ran: { sql: string }[] = [];
      await withTidal(
        db.url,
        async (t) => {
          await t.start(loaded);
          const started = ran.length;
          await t.complete();
          const phases = (names: string[]) =>
            report.steps.filter((s) => names.includes(s.phase)).map((s) => s.sql);
          expect(ran.slice(0, started).map((s) => s.sql)).toEqual(
            phases(['start', 'version schema', 'after backfill']),
          );
          expect(ran.slice(started).map((s) => s.sql)).toEqual(phases(['complete']));
        },
        {
          onEvent: (e) => {
            if (e.type === 'step-start') ran.push(e.step);
          },
        },
      );
      expect(report.backfills).toEqual([
        expect.objectContaining({ table: 'accounts', walkKey: ['id'], rows: 2000 }),
      ]);
    } finally {
      await db.dispose();
    }
  });

  it('shows the version schema start then makes when a copy column gets a new type and default', async () => {
    const db = await createTestDatabase();
    try {
      await db.query(`CREATE TYPE state AS ENUM ('open', 'done')`);
      await db.query(`CREATE TABLE tasks (id int PRIMARY KEY, state text DEFAULT 'open')`);
      const loaded = await migrationFromYaml(
        'enum',
        `operations:
  - alter_column:
      table: tasks
      column: state
      type: state
      default: "'open'"
      up: state::state
      down: state::text
`,
      );
      const { report } = await withTidal(db.url, (t) => t.plan(loaded));
      const ran: string[] = [];
      await withTidal(db.url, (t) => t.start(loaded), {
        onEvent: (e) => {
          if (e.type === 'step-start') ran.push(e.step.sql);
        },
      });
      const viewDefaults = (sql: string[]) => sql.filter((s) => s.startsWith('ALTER VIEW'));
      // The new version's view holds the copy's default while both versions write: plan and
      // start give it as the file does.
      expect(viewDefaults(report.steps.map((s) => s.sql))).toEqual([
        `ALTER VIEW "public_enum"."tasks" ALTER COLUMN "state" SET DEFAULT 'open'`,
      ]);
      expect(viewDefaults(ran)).toEqual(viewDefaults(report.steps.map((s) => s.sql)));
      await db.query(`INSERT INTO public_enum.tasks (id) VALUES (1)`);
      expect(await rows(db.pool, `SELECT state::text FROM public_enum.tasks`)).toEqual([
        { state: 'open' },
      ]);
    } finally {
      await db.dispose();
    }
  });

  it('names a transaction open now that holds a lock the first statement needs; --json and text agree', async () => {
    const db = await createTestDatabase();
    try {
      await seedAccounts(db.url, 100);
      const holder = await db.client('report writer');
      await holder.query('BEGIN');
      await holder.query('SELECT count(*) FROM accounts');
      await new Promise((r) => setTimeout(r, 1200));
      const pid = (await holder.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]
        ?.pid;
      const file = join(await writeTemp(DEMO_MIGRATION), 'cents.yaml');
      const json = await runCli(['plan', file, '--url', db.url, '--json']);
      expect(json.code, json.stderr).toBe(0);
      const report = JSON.parse(json.stdout) as PlanReport;
      expect(report.openTransactions).toEqual([
        expect.objectContaining({
          pid,
          application: 'report writer',
          state: 'idle in transaction',
          locks: [{ table: 'accounts', mode: 'AccessShareLock' }],
        }),
      ]);
      expect(report.steps[0]).toMatchObject({ phase: 'start', lock: 'AccessExclusive' });
      const text = await runCli(['plan', file, '--url', db.url]);
      expect(text.stdout).toMatch(
        new RegExp(
          `pid ${pid} \\(report writer, idle in transaction\\) open for \\d+s\\n    holds AccessShareLock on "accounts"`,
        ),
      );
      expect(text.stdout).toMatch(/1\. ACCESS EXCLUSIVE on "accounts": add column "balance_cents"/);
      expect(text.stdout).toMatch(/SHARE UPDATE EXCLUSIVE on "accounts", reads every row/);
      // Plan runs nothing.
      const { rows } = await db.query(
        `SELECT to_regnamespace('public_cents') AS version, count(*)::int AS columns
           FROM pg_attribute WHERE attrelid = 'accounts'::regclass AND attnum > 0 AND NOT attisdropped`,
      );
      expect(rows).toEqual([{ version: null, columns: 3 }]);
      await holder.query('ROLLBACK');
    } finally {
      await db.dispose();
    }
  });
});

async function writeTemp(content: string): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'tidal-plan-'));
  await writeFile(join(dir, 'cents.yaml'), content);
  return dir;
}

describe('the locks plan names are the ones PostgreSQL takes', () => {
  const pgroll = pgrollExamples();

  it('for every step of the own chain, and no step rewrites a table it does not say it does', async () => {
    const { runs } = await ownChain(await testServerMajor());
    const { mismatches, checked } = await observeLocks(runs);
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(200);
  }, 180_000);

  it.skipIf(!pgroll.found)(
    `for every step of the pgroll example chain, and no step rewrites a table it does not say it does${pgroll.skipped ? ` (${pgroll.skipped})` : ''}`,
    async () => {
      const { mismatches, checked } = await observeLocks((await pgrollChain(pgroll.dir)).runs);
      expect(mismatches).toEqual([]);
      expect(checked).toBeGreaterThan(150);
    },
    180_000,
  );

  it('for an index rebuilt on a copy column, and an identity column added to a new table', async () => {
    const { mismatches, checked } = await observeLocks(
      [
        await migrationFromYaml(
          'steps',
          `operations:
  - alter_column:
      table: items
      column: code
      type: bigint
      up: code
      down: code::int
  - create_table:
      name: batches
      columns: [{name: id, type: int, pk: true}]
  - add_column:
      table: batches
      column: {name: number, type: int, generated: {identity: {}}}
`,
        ),
      ],
      [
        'CREATE TABLE items (id int PRIMARY KEY, code int)',
        'CREATE INDEX items_code_idx ON items (code)',
        'INSERT INTO items SELECT g, g FROM generate_series(1, 10) g',
      ],
    );
    expect(mismatches).toEqual([]);
    expect(checked).toBeGreaterThan(10);
  });
});

describe('between any two steps of rollback or complete, the version that stays can write', () => {
  /** Runs `steps` one at a time, and `write` after each; returns the writes that failed. */
  async function writeBetween(
    db: Awaited<ReturnType<typeof createTestDatabase>>,
    steps: Step[],
    write: (client: pg.Client, i: number) => Promise<unknown>,
  ): Promise<string[]> {
    const runner = new StepRunner(await db.client('steps'));
    const app = await db.client('app');
    const failures: string[] = [];
    for (const [i, step] of steps.entries()) {
      await runner.run(step);
      await write(app, i).catch((e: Error) =>
        failures.push(`after "${step.summary}": ${e.message}`),
      );
    }
    return failures;
  }

  it('rollback: the old version inserts and updates after every step', async () => {
    const db = await createTestDatabase();
    try {
      await seedAccounts(db.url, 50);
      const record = await withTidal(db.url, async (t) =>
        t.start(await migrationFromYaml('cents', DEMO_MIGRATION)),
      );
      // Plain tables, search_path public: the old version.
      const failures = await writeBetween(db, record.plan.rollback, async (app, i) => {
        await app.query(`INSERT INTO accounts (owner, balance) VALUES ($1, 100)`, [`old ${i}`]);
        await app.query('UPDATE accounts SET balance = balance + 1 WHERE id = 1');
      });
      expect(failures).toEqual([]);
    } finally {
      await db.dispose();
    }
  });

  it('rollback of a type change whose column carries a check that rejects NULL', async () => {
    const db = await createTestDatabase();
    try {
      await db.query(
        'CREATE TABLE notes (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, n int CONSTRAINT n_present CHECK (n IS NOT NULL AND n > 0))',
      );
      await db.query('INSERT INTO notes (n) SELECT g FROM generate_series(1, 20) g');
      const record = await withTidal(db.url, async (t) =>
        t.start(
          await migrationFromYaml(
            'wide',
            'operations:\n  - alter_column:\n      table: notes\n      column: n\n      type: bigint\n      up: n\n      down: CAST(n AS integer)\n',
          ),
        ),
      );
      // The check was rebuilt on a copy column, which the trigger fills.
      expect(record.plan.start.some((step) => step.sql.includes('"_tidal_n_present" CHECK'))).toBe(
        true,
      );
      const failures = await writeBetween(db, record.plan.rollback, (app, i) =>
        app.query('INSERT INTO notes (n) VALUES ($1)', [100 + i]),
      );
      expect(failures).toEqual([]);
    } finally {
      await db.dispose();
    }
  });

  it('complete: the new version inserts and updates after every step', async () => {
    const db = await createTestDatabase();
    try {
      await seedAccounts(db.url, 50);
      const record = await withTidal(db.url, async (t) =>
        t.start(await migrationFromYaml('cents', DEMO_MIGRATION)),
      );
      const failures = await writeBetween(db, record.plan.complete, async (app, i) => {
        await app.query('SET search_path = public_cents, public');
        await app.query(
          `INSERT INTO accounts (owner, balance, balance_cents) VALUES ($1, 100, 10000)`,
          [`new ${i}`],
        );
        await app.query(
          'UPDATE accounts SET balance = balance + 1, balance_cents = balance_cents + 100 WHERE id = 1',
        );
      });
      expect(failures).toEqual([]);
    } finally {
      await db.dispose();
    }
  });

  /** More operation kinds: each case's old version writes after every rollback step, and its
   *  new version after every complete step. */
  const CASES: {
    name: string;
    setup: string[];
    migration: string;
    oldWrite: string;
    newWrite: string;
  }[] = [
    {
      name: 'a check over copy columns whose up repairs rows',
      setup: [
        'CREATE TABLE ledger (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, credit int, debit int)',
      ],
      migration: `operations:
  - create_constraint:
      type: check
      table: ledger
      name: covered
      columns: [credit, debit]
      check: credit >= debit
      up:
        credit: credit
        debit: LEAST(debit, credit)
      down:
        credit: credit
        debit: debit
`,
      oldWrite: 'INSERT INTO ledger (credit, debit) VALUES (5, 9)',
      newWrite: 'INSERT INTO ledger (credit, debit) VALUES (5, 3)',
    },
    {
      name: 'a NOT NULL unique column with a check, filled by up',
      setup: [
        'CREATE TABLE items (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text NOT NULL)',
      ],
      migration: `operations:
  - add_column:
      table: items
      up: "'c' || id"
      column:
        name: code
        type: text
        unique: true
        check: {name: code_present, constraint: length(code) > 1}
`,
      oldWrite: "INSERT INTO items (name) VALUES ('old')",
      newWrite: "INSERT INTO items (name, code) VALUES ('new', 'n' || (random() * 1e9)::bigint)",
    },
    {
      name: 'a rename and a drop',
      setup: [
        'CREATE TABLE people (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, name text NOT NULL, nickname text NOT NULL)',
      ],
      migration: `operations:
  - rename_column: {table: people, from: name, to: full_name}
  - drop_column: {table: people, column: nickname, down: "'none'"}
`,
      oldWrite: "INSERT INTO people (name, nickname) VALUES ('old', 'o')",
      newWrite: "INSERT INTO people (full_name) VALUES ('new')",
    },
    {
      name: 'NOT NULL on an existing column whose up fills NULLs',
      setup: [
        'CREATE TABLE notes (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, note text)',
      ],
      migration: `operations:
  - alter_column: {table: notes, column: note, nullable: false, up: "coalesce(note, '-')", down: note}
`,
      oldWrite: 'INSERT INTO notes (note) VALUES (NULL)',
      newWrite: "INSERT INTO notes (note) VALUES ('x')",
    },
    {
      name: 'a check that rejects NULL on a new column',
      setup: [
        'CREATE TABLE parts (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, size int)',
      ],
      // Once rollback removes the trigger, the old version's writes leave the new column NULL.
      migration: `operations:
  - add_column:
      table: parts
      up: "'p' || id"
      column: {name: label, type: text, nullable: true, check: {name: label_present, constraint: label IS NOT NULL}}
`,
      oldWrite: 'INSERT INTO parts (size) VALUES (1)',
      newWrite: "INSERT INTO parts (size, label) VALUES (1, 'x')",
    },
    {
      name: 'a new check that rejects NULL on a copy column',
      setup: [
        'CREATE TABLE parts (id bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, size int)',
        'INSERT INTO parts (size) SELECT g FROM generate_series(1, 20) g',
      ],
      migration: `operations:
  - alter_column:
      table: parts
      column: size
      type: bigint
      up: size
      down: CAST(size AS int)
      check: {name: size_present, constraint: size IS NOT NULL}
`,
      oldWrite: 'INSERT INTO parts (size) VALUES (1)',
      newWrite: 'INSERT INTO parts (size) VALUES (1)',
    },
  ];

  it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
    for (const direction of ['rollback', 'complete'] as const) {
      const db = await createTestDatabase();
      try {
        for (const sql of c.setup) await db.query(sql);
        const record = await withTidal(db.url, async (t) =>
          t.start(await migrationFromYaml('m', c.migration)),
        );
        const failures = await writeBetween(db, record.plan[direction], async (app) => {
          await app.query(
            direction === 'rollback'
              ? 'SET search_path = public'
              : 'SET search_path = public_m, public',
          );
          await app.query(direction === 'rollback' ? c.oldWrite : c.newWrite);
        });
        expect(failures, direction).toEqual([]);
      } finally {
        await db.dispose();
      }
    }
  });
});

describe('checks against the database', () => {
  it('report the first problem in the order of the file, among many operations checked together', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE a (id int PRIMARY KEY, n int)');
      await db.query('CREATE TABLE b (id int PRIMARY KEY, n int)');
      const file = (bad: Record<number, string>) =>
        `operations:\n${Array.from({ length: 1200 }, (_, i) => {
          const table = i % 2 === 0 ? 'a' : 'b';
          return (
            bad[i] ??
            `  - add_column: {table: ${table}, up: "n + ${i}", column: {name: c${i}, type: int, nullable: true}}`
          );
        }).join('\n')}\n`;
      const badUp = (i: number) =>
        `  - add_column: {table: a, up: "no_such_${i}", column: {name: c${i}, type: int, nullable: true}}`;
      const badType = (i: number) =>
        `  - add_column: {table: b, column: {name: c${i}, type: no_such_type, nullable: true}}`;
      const cases: [Record<number, string>, string][] = [
        // Past the first batch of checks, two problems: the earlier is reported.
        [
          { 1002: badUp(1002), 1101: badType(1101) },
          'm1.yaml: operations[1002].add_column.up: column "no_such_1002" does not exist',
        ],
        [
          { 700: badType(700), 1100: badUp(1100) },
          'm1.yaml: operations[700].add_column.column.type: invalid type "no_such_type"',
        ],
        // A check of an earlier operation comes before a later operation's own problem.
        [
          {
            3: badUp(3),
            900: '  - add_column: {table: nope, column: {name: x, type: int, nullable: true}}',
          },
          'm1.yaml: operations[3].add_column.up: column "no_such_3" does not exist',
        ],
      ];
      for (const [bad, message] of cases) {
        const loaded = await migrationFromYaml('m1', file(bad));
        await expect(withTidal(db.url, (t) => t.plan(loaded))).rejects.toThrow(message);
      }
      const valid = await migrationFromYaml('m1', file({}));
      const { plan } = await withTidal(db.url, (t) => t.plan(valid));
      expect(plan.backfills.map((b) => [b.table, b.set.length])).toEqual([
        ['a', 600],
        ['b', 600],
      ]);
    } finally {
      await db.dispose();
    }
  });
});
