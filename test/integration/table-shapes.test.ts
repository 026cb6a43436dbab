/** alter_column and create_constraint through the full cycle on tables of particular shapes:
 *  composite primary keys, identity columns, stored generated columns and user triggers. */

import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import {
  columnOf,
  constraintsOf,
  snapshotCatalog,
  syncTriggerColumns,
} from '../helpers/catalog.js';
import { rows, runCycle } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

describe('a composite primary key', () => {
  it('changes a non-key type and adds a two-column check; the backfill walks (tenant_id, id)', async () => {
    // 3 tenants x 700 ids: batches of 1000 end inside a tenant. Where credit < debit the check
    // is broken; debit's up repairs it.
    const expected = (tenant: number, id: number) => ({
      tenant,
      id,
      balance: tenant * 1000 + id,
      credit: id % 5,
      debit: Math.min(tenant, id % 5),
    });
    const one = `SELECT tenant_id AS tenant, id, balance, credit, debit FROM accounts WHERE tenant_id = $1 AND id = $2`;
    await runCycle({
      setup: [
        'CREATE TABLE accounts (tenant_id int, id int, balance text, credit int, debit int, PRIMARY KEY (tenant_id, id))',
        `INSERT INTO accounts SELECT t, i, (t * 1000 + i)::text, i % 5, t
           FROM generate_series(1, 3) t, generate_series(1, 700) i`,
      ],
      migration: `
operations:
  - alter_column:
      table: accounts
      column: balance
      type: integer
      up: CAST(balance AS integer)
      down: CAST(balance AS text)
  - create_constraint:
      type: check
      table: accounts
      name: credit_covers_debit
      columns: [credit, debit]
      check: credit >= debit
      up:
        credit: credit
        debit: LEAST(debit, credit)
      down:
        credit: credit
        debit: debit
`,
      async whileActive({ old, next, pass }) {
        for (const [t, i] of [
          [1, 1],
          [2, 5],
          [2, 301],
          [3, 699],
        ] as const)
          expect(await rows(next, one, [t, i])).toEqual([expected(t, i)]);
        expect(await rows(old, one, [2, 5])).toEqual([
          { ...expected(2, 5), balance: '2005', debit: 2 },
        ]);
        const broken =
          'SELECT count(*)::int AS n FROM accounts WHERE credit < debit OR balance IS NULL';
        expect(await rows(next, broken)).toEqual([{ n: 0 }]);
        // The old version writes text and a broken pair, under a key whose id tenant 1 has too.
        await old.query(`INSERT INTO accounts VALUES (9, $1, '4${pass}', 1, 5)`, [pass]);
        expect(await rows(next, one, [9, pass])).toEqual([
          { tenant: 9, id: pass, balance: 40 + pass, credit: 1, debit: 1 },
        ]);
        await old.query(
          `UPDATE accounts SET balance = '-3', debit = 4 WHERE tenant_id = 1 AND id = 2`,
        );
        expect(await rows(next, one, [1, 2])).toEqual([
          { tenant: 1, id: 2, balance: -3, credit: 2, debit: 2 },
        ]);
        expect(await rows(old, one, [1, 1])).toEqual([
          { tenant: 1, id: 1, balance: '1001', credit: 1, debit: 1 },
        ]);
        // The new version writes integers; the old version reads text.
        await next.query('INSERT INTO accounts VALUES (8, $1, $2, 3, 2)', [pass, 70 + pass]);
        expect(await rows(old, one, [8, pass])).toEqual([
          { tenant: 8, id: pass, balance: `${70 + pass}`, credit: 3, debit: 2 },
        ]);
        await next.query('UPDATE accounts SET balance = 3799 WHERE tenant_id = 3 AND id = 700');
        expect(await rows(old, one, [3, 700])).toEqual([
          // down writes every copied column: the old debit takes the new version's 0.
          { tenant: 3, id: 700, balance: '3799', credit: 0, debit: 0 },
        ]);
        await expect(next.query('INSERT INTO accounts VALUES (8, 99, 1, 1, 2)')).rejects.toThrow(
          /credit_covers_debit/,
        );
        await expect(
          next.query('UPDATE accounts SET debit = 9 WHERE tenant_id = 1 AND id = 1'),
        ).rejects.toThrow(/credit_covers_debit/);
        await expect(next.query(`UPDATE accounts SET balance = 'x'`)).rejects.toThrow(/integer/);
        expect(await rows(old, 'SELECT count(*)::int AS n FROM accounts')).toEqual([
          { n: 2100 + 2 * pass },
        ]);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, one, [1, 2])).toEqual([
          { tenant: 1, id: 2, balance: '-3', credit: 2, debit: 4 },
        ]);
      },
      async afterComplete(db) {
        expect(await columnOf(db.pool, 'accounts', 'balance')).toEqual([
          { type: 'integer', notnull: false, default: null, comment: null },
        ]);
        expect(await constraintsOf(db.pool, 'accounts')).toEqual([
          { name: 'accounts_pkey', def: 'PRIMARY KEY (tenant_id, id)', validated: true },
          { name: 'credit_covers_debit', def: 'CHECK ((credit >= debit))', validated: true },
        ]);
        const all = await rows<ReturnType<typeof expected>>(
          db.pool,
          'SELECT tenant_id AS tenant, id, balance, credit, debit FROM accounts ORDER BY 1, 2',
        );
        const want = [];
        for (let t = 1; t <= 3; t++) for (let i = 1; i <= 700; i++) want.push(expected(t, i));
        want[1] = { tenant: 1, id: 2, balance: -3, credit: 2, debit: 2 }; // old version wrote debit 4
        want[2099] = { ...expected(3, 700), balance: 3799 };
        for (const id of [1, 2])
          want.push({ tenant: 8, id, balance: 70 + id, credit: 3, debit: 2 });
        for (const id of [1, 2])
          want.push({ tenant: 9, id, balance: 40 + id, credit: 1, debit: 1 });
        expect(all).toEqual(want);
        await expect(db.query('INSERT INTO accounts VALUES (1, 999, 0, 0, 1)')).rejects.toThrow(
          /credit_covers_debit/,
        );
      },
    });
  });
});

type S = string | null;
const item = (id: number, name: string, sku: S, label: S) => ({ id, name, sku, label });
const seeded = [1, 2, 3, 4].map((g) =>
  item(g, `item ${g}`, g % 2 ? `SKU-${g}` : `S${g}`, `item ${g} #${g}`),
);

describe.each(['ALWAYS', 'BY DEFAULT'] as const)('an identity key, GENERATED %s', (kind) => {
  it('sets NOT NULL with up and adds a column with up; inserts through both versions get identity values', async () => {
    const identityIds: number[] = [];
    const final: ReturnType<typeof item>[] = [];
    await runCycle({
      setup: [
        `CREATE TABLE items (id int GENERATED ${kind} AS IDENTITY PRIMARY KEY, name text NOT NULL, sku text)`,
        `INSERT INTO items (name, sku) SELECT 'item ' || g, CASE WHEN g % 2 = 0 THEN 'S' || g END
           FROM generate_series(1, 4) g`,
      ],
      migration: `
operations:
  - alter_column:
      table: items
      column: sku
      nullable: false
      up: SELECT CASE WHEN sku IS NULL THEN 'SKU-' || id ELSE sku END
      down: sku
  - add_column:
      table: items
      up: "name || ' #' || id"
      column:
        name: label
        type: text
        nullable: true
`,
      async whileActive({ old, next, pass }) {
        const query = 'SELECT id, name, sku, label FROM items WHERE id = ANY($1) ORDER BY id';
        expect(await rows(next, query, [[1, 2, 3, 4]])).toEqual(seeded);
        // The old version inserts without id and sku; up sees the identity value.
        const [o] = await rows<{ id: number }>(
          old,
          `INSERT INTO items (name) VALUES ('old ${pass}') RETURNING id`,
        );
        const oid = o?.id as number;
        expect(oid).toBeGreaterThan(Math.max(4, ...identityIds));
        expect(await rows(next, query, [[oid]])).toEqual([
          item(oid, `old ${pass}`, `SKU-${oid}`, `old ${pass} #${oid}`),
        ]);
        const sku = 'SELECT sku FROM items WHERE id = $1';
        expect(await rows(old, sku, [oid])).toEqual([{ sku: null }]);
        // The new version inserts through its view without id, and gets the next value.
        const [n] = await rows<{ id: number }>(
          next,
          `INSERT INTO items (name, sku, label) VALUES ('new ${pass}', 'N${pass}', 'mine') RETURNING id`,
        );
        const nid = n?.id as number;
        expect(nid).toBe(oid + 1);
        expect(await rows(old, 'SELECT id, name, sku FROM items WHERE id = $1', [nid])).toEqual([
          { id: nid, name: `new ${pass}`, sku: `N${pass}` },
        ]);
        identityIds.push(oid, nid);
        // Pass 1's rows lose their label at rollback and get up's again from pass 2's backfill.
        final.push(item(oid, `old ${pass}`, `SKU-${oid}`, `old ${pass} #${oid}`));
        final.push(item(nid, `new ${pass}`, `N${pass}`, pass === 1 ? `new 1 #${nid}` : 'mine'));
        if (kind === 'ALWAYS') {
          for (const v of [old, next])
            await expect(
              v.query(`INSERT INTO items (id, name, sku) VALUES (900, 'x', 'x')`),
            ).rejects.toThrow(/non-DEFAULT value into column "id"/);
        } else {
          const [mine, theirs] = [900 + pass, 950 + pass];
          await old.query(`INSERT INTO items (id, name) VALUES ($1, 'own old')`, [mine]);
          await next.query(`INSERT INTO items (id, name, sku) VALUES ($1, 'own new', 'O')`, [
            theirs,
          ]);
          expect(await rows(next, query, [[mine]])).toEqual([
            item(mine, 'own old', `SKU-${mine}`, `own old #${mine}`),
          ]);
          expect(await rows(old, sku, [theirs])).toEqual([{ sku: 'O' }]);
          final.push(item(mine, 'own old', `SKU-${mine}`, `own old #${mine}`));
          final.push(item(theirs, 'own new', 'O', pass === 1 ? `own new #${theirs}` : null));
        }
        await expect(next.query(`INSERT INTO items (name) VALUES ('no sku')`)).rejects.toThrow(
          /_tidal_nn_|null value/,
        );
      },
      async afterComplete(db) {
        const identity = `SELECT attidentity AS identity FROM pg_attribute WHERE attrelid = 'items'::regclass AND attname = 'id'`;
        expect(await rows(db.pool, identity)).toEqual([
          { identity: kind === 'ALWAYS' ? 'a' : 'd' },
        ]);
        expect(await columnOf(db.pool, 'items', 'sku')).toEqual([
          { type: 'text', notnull: true, default: null, comment: null },
        ]);
        expect(await columnOf(db.pool, 'items', 'label')).toEqual([
          { type: 'text', notnull: false, default: null, comment: null },
        ]);
        expect(await rows(db.pool, 'SELECT id, name, sku, label FROM items ORDER BY id')).toEqual([
          ...seeded,
          ...final.sort((a, b) => a.id - b.id),
        ]);
        // Higher than every id the identity gave (failed inserts used some up, as in PostgreSQL).
        const [after] = await rows<{ id: number }>(
          db.pool,
          `INSERT INTO items (name, sku) VALUES ('after', 'A') RETURNING id`,
        );
        expect(after?.id).toBeGreaterThan(Math.max(...identityIds));
      },
    });
  });
});

describe('a stored generated column', () => {
  const orders = [
    'CREATE TABLE orders (id int PRIMARY KEY, price int NOT NULL, qty int NOT NULL, ref text, total int GENERATED ALWAYS AS (price * qty) STORED)',
    `INSERT INTO orders (id, price, qty, ref) SELECT g, g * 10, g, 'R' || g FROM generate_series(1, 5) g`,
  ];
  const order = 'SELECT id, price, qty, ref, total FROM orders WHERE id = $1';
  const ord = (id: number, price: number, qty: number, ref: number | string, total: number) => ({
    id,
    price,
    qty,
    ref,
    total,
  });

  it('changes the type of a column it does not use; totals stay right through both versions', async () => {
    await runCycle({
      setup: orders,
      migration: `
operations:
  - alter_column:
      table: orders
      column: ref
      type: integer
      up: CAST(substr(ref, 2) AS integer)
      down: "'R' || ref"
`,
      async whileActive({ old, next, pass }) {
        expect(await rows(next, order, [4])).toEqual([ord(4, 40, 4, 4, 160)]);
        await old.query(`INSERT INTO orders (id, price, qty, ref) VALUES ($1, 3, 4, 'R7')`, [
          100 + pass,
        ]);
        expect(await rows(next, order, [100 + pass])).toEqual([ord(100 + pass, 3, 4, 7, 12)]);
        await next.query('INSERT INTO orders (id, price, qty, ref) VALUES ($1, 5, 6, 8)', [
          200 + pass,
        ]);
        expect(await rows(old, order, [200 + pass])).toEqual([ord(200 + pass, 5, 6, 'R8', 30)]);
        // Updates through either version recompute the total, which both read.
        await next.query('UPDATE orders SET price = 100, ref = 22 WHERE id = 2');
        expect(await rows(old, order, [2])).toEqual([ord(2, 100, 2, 'R22', 200)]);
        await old.query(`UPDATE orders SET qty = 3 WHERE id = 3`);
        expect(await rows(next, order, [3])).toEqual([ord(3, 30, 3, 3, 90)]);
        await expect(
          next.query('INSERT INTO orders (id, price, qty, total) VALUES (999, 1, 1, 1)'),
        ).rejects.toThrow(/non-DEFAULT value into column "total"/);
      },
      async afterComplete(db) {
        expect(await columnOf(db.pool, 'orders', 'ref')).toEqual([
          { type: 'integer', notnull: false, default: null, comment: null },
        ]);
        expect(await columnOf(db.pool, 'orders', 'total')).toEqual([
          { type: 'integer', notnull: false, default: '(price * qty)', comment: null },
        ]);
        expect(await rows(db.pool, 'SELECT * FROM orders ORDER BY id')).toEqual([
          ord(1, 10, 1, 1, 10),
          ord(2, 100, 2, 22, 200),
          ord(3, 30, 3, 3, 90),
          ord(4, 40, 4, 4, 160),
          ord(5, 50, 5, 5, 250),
          ...[101, 102].map((id) => ord(id, 3, 4, 7, 12)),
          ...[201, 202].map((id) => ord(id, 5, 6, 8, 30)),
        ]);
        await db.query('UPDATE orders SET qty = 10 WHERE id = 5');
        expect(await rows(db.pool, order, [5])).toEqual([ord(5, 50, 10, 5, 500)]);
      },
    });
  });
});

describe('user triggers of their own', () => {
  const setup = [
    `CREATE TABLE audit (n serial PRIMARY KEY, op text NOT NULL, account_id int, email text,
                         by text DEFAULT current_setting('application_name'))`,
    `CREATE TABLE accounts (id int PRIMARY KEY, email text, updated_at timestamptz NOT NULL DEFAULT '2000-01-01')`,
    `INSERT INTO accounts (id, email) VALUES (1, 'Ann@X.org'), (2, 'bob@x.org'), (3, NULL)`,
    `CREATE FUNCTION touch() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.updated_at := now(); RETURN NEW; END$$`,
    'CREATE TRIGGER accounts_touch BEFORE UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION touch()',
    `CREATE FUNCTION audit_accounts() RETURNS trigger LANGUAGE plpgsql AS $$
       BEGIN INSERT INTO audit (op, account_id, email) VALUES (TG_OP, NEW.id, NEW.email); RETURN NULL; END$$`,
    'CREATE TRIGGER accounts_audit AFTER INSERT OR UPDATE ON accounts FOR EACH ROW EXECUTE FUNCTION audit_accounts()',
  ];
  const triggers = `SELECT tgname AS name, tgenabled AS enabled FROM pg_trigger
                     WHERE tgrelid = 'accounts'::regclass AND NOT tgisinternal ORDER BY tgname COLLATE "C"`;
  const untouched = `SELECT count(*)::int AS n FROM accounts WHERE updated_at = '2000-01-01'`;
  const userTriggers = [
    { name: 'accounts_audit', enabled: 'O' },
    { name: 'accounts_touch', enabled: 'O' },
  ];
  type Audit = { op: string; id: number; email: S; by: string };
  const takeAudit = async (pool: TestDatabase['pool']) => {
    const sql = 'DELETE FROM audit RETURNING n, op, account_id AS id, email, by';
    const audit = await rows<Audit & { n: number }>(pool, sql);
    return audit.sort((a, b) => a.n - b.n).map(({ n: _, ...rest }): Audit => rest);
  };

  it('adds a unique constraint through a copy column; the triggers stay and fire once per write', async () => {
    await runCycle({
      setup,
      migration: `
operations:
  - alter_column:
      table: accounts
      column: email
      unique:
        name: accounts_email_unique
      up: lower(email)
      down: email
`,
      async whileActive({ db, old, next, pass }) {
        // The backfill sets session_replication_role = replica for its batches (the tests run
        // as a superuser): the table's own triggers do not fire for backfilled rows, so there is
        // no audit row and no updated_at stamp from it. Pass 1: rows 1-3 keep the seed's stamp;
        // pass 2: 3, 101 and 201 (the application updated 1 and 2 in pass 1).
        expect(await takeAudit(db.pool)).toEqual([]);
        expect(await rows(db.pool, untouched)).toEqual([{ n: 3 }]);
        expect(
          await rows(next, 'SELECT id, email FROM accounts WHERE id <= 3 ORDER BY id'),
        ).toEqual([
          { id: 1, email: pass === 1 ? 'ann@x.org' : 'ann2@x.org' },
          { id: 2, email: pass === 1 ? 'bob@x.org' : 'bob2@x.org' },
          { id: 3, email: null },
        ]);

        // Writes through either version: one audit row each, with what the old column holds.
        const oldVersion = { by: 'app public' };
        const newVersion = { by: 'app public_m1' };
        const insert = 'INSERT INTO accounts (id, email) VALUES ($1, $2)';
        await old.query(insert, [100 + pass, `Old${pass}@X.org`]);
        await old.query(`UPDATE accounts SET email = 'Ann2@X.org' WHERE id = 1`);
        await next.query(insert, [200 + pass, `new${pass}@x.org`]);
        await next.query(`UPDATE accounts SET email = 'Bob2@x.org' WHERE id = 2`);
        await expect(next.query(insert, [999, 'ann2@x.org'])).rejects.toThrow(/duplicate key/);
        expect(await takeAudit(db.pool)).toEqual([
          { op: 'INSERT', id: 100 + pass, email: `Old${pass}@X.org`, ...oldVersion },
          { op: 'UPDATE', id: 1, email: 'Ann2@X.org', ...oldVersion },
          { op: 'INSERT', id: 200 + pass, email: `new${pass}@x.org`, ...newVersion },
          { op: 'UPDATE', id: 2, email: 'Bob2@x.org', ...newVersion },
        ]);
        expect(
          await rows(
            next,
            'SELECT id, email FROM accounts WHERE id IN (1, 2, $1, $2) ORDER BY id',
            [100 + pass, 200 + pass],
          ),
        ).toEqual([
          { id: 1, email: 'ann2@x.org' },
          { id: 2, email: 'Bob2@x.org' },
          { id: 100 + pass, email: `old${pass}@x.org` },
          { id: 200 + pass, email: `new${pass}@x.org` },
        ]);
        // The touch trigger runs for updates through both versions.
        const [before] = await rows(db.pool, 'SELECT max(updated_at)::text AS at FROM accounts');
        await old.query(`UPDATE accounts SET email = email WHERE id = 1`);
        await next.query(`UPDATE accounts SET email = email WHERE id = 2`);
        expect(
          await rows(next, 'SELECT id FROM accounts WHERE updated_at > $1 ORDER BY id', [
            before?.at,
          ]),
        ).toEqual([{ id: 1 }, { id: 2 }]);
        expect((await takeAudit(db.pool)).map((a) => a.id)).toEqual([1, 2]);
        // Sorted by name, as PostgreSQL fires them: tidal's comes last.
        expect(await rows(db.pool, triggers)).toEqual([
          ...userTriggers,
          { name: '~tidal_sync', enabled: 'O' },
        ]);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, triggers)).toEqual(userTriggers);
        expect(await takeAudit(db.pool)).toEqual([]); // rollback wrote no rows
      },
      async afterComplete(db) {
        expect(await rows(db.pool, triggers)).toEqual(userTriggers);
        expect(await takeAudit(db.pool)).toEqual([]); // complete wrote no rows either
        expect(await constraintsOf(db.pool, 'accounts')).toEqual([
          { name: 'accounts_email_unique', def: 'UNIQUE (email)', validated: true },
          { name: 'accounts_pkey', def: 'PRIMARY KEY (id)', validated: true },
        ]);
        expect(await rows(db.pool, 'SELECT id, email FROM accounts ORDER BY id')).toEqual([
          { id: 1, email: 'ann2@x.org' },
          { id: 2, email: 'Bob2@x.org' },
          { id: 3, email: null },
          { id: 101, email: 'old1@x.org' },
          { id: 102, email: 'old2@x.org' },
          { id: 201, email: 'new1@x.org' },
          { id: 202, email: 'new2@x.org' },
        ]);
        // The triggers work on the renamed column.
        await db.query(
          `UPDATE accounts SET email = 'c@x.org', updated_at = '2000-01-01' WHERE id = 3`,
        );
        expect(await takeAudit(db.pool)).toEqual([
          { op: 'UPDATE', id: 3, email: 'c@x.org', by: 'tidal-test' },
        ]);
        expect(await rows(db.pool, `${untouched} AND id = 3`)).toEqual([{ n: 0 }]);
      },
    });
  });

  // tidal's trigger fires after the user's BEFORE triggers (by name order), so `up` reads what
  // the old version stores ('b@x'), the same as the backfill computes for a stored row.
  it('a user BEFORE trigger that rewrites the column: up sees what the old version stores', async () => {
    await runCycle({
      setup: [
        'CREATE TABLE people (id int PRIMARY KEY, email text)',
        `CREATE FUNCTION trim_email() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.email := trim(NEW.email); RETURN NEW; END$$`,
        'CREATE TRIGGER people_trim BEFORE INSERT OR UPDATE ON people FOR EACH ROW EXECUTE FUNCTION trim_email()',
        `INSERT INTO people VALUES (1, ' a@x ')`,
      ],
      migration:
        'operations:\n  - alter_column: {table: people, column: email, type: varchar(20), up: upper(email), down: email}\n',
      async whileActive({ old, next, pass }) {
        const email = 'SELECT email FROM people WHERE id = $1';
        expect(await rows(next, email, [1])).toEqual([{ email: 'A@X' }]);
        await old.query(`INSERT INTO people VALUES ($1, ' b@x ')`, [100 + pass]);
        expect(await rows(old, email, [100 + pass])).toEqual([{ email: 'b@x' }]);
        expect(await rows(next, email, [100 + pass])).toEqual([{ email: 'B@X' }]);
      },
    });
  });

  // PostgreSQL fires an `UPDATE OF` trigger by the columns a statement writes, not by what a
  // BEFORE trigger then changes in the row: with one of the user's, tidal's fires on every UPDATE.
  it("a user BEFORE UPDATE trigger that changes a column up reads: every update fires tidal's, the new column follows", async () => {
    await runCycle({
      setup: [
        'CREATE TABLE posts (id int PRIMARY KEY, body text, words int)',
        `CREATE FUNCTION count_words() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.words := cardinality(string_to_array(NEW.body, ' ')); RETURN NEW; END$$`,
        'CREATE TRIGGER posts_words BEFORE UPDATE ON posts FOR EACH ROW EXECUTE FUNCTION count_words()',
        `INSERT INTO posts VALUES (1, 'a b', 2)`,
      ],
      migration:
        'operations:\n  - add_column: {table: posts, up: words * 10, column: {name: score, type: int, nullable: true}}\n',
      async whileActive({ db, old, next, pass }) {
        expect(await syncTriggerColumns(db.pool, 'posts')).toEqual([]);
        // The old version writes body only; its trigger counts the words.
        await old.query(`UPDATE posts SET body = body || ' c' WHERE id = 1`);
        expect(await rows(next, 'SELECT words, score FROM posts WHERE id = 1')).toEqual([
          { words: 2 + pass, score: (2 + pass) * 10 },
        ]);
      },
      async afterComplete(db) {
        expect(await rows(db.pool, 'SELECT words, score FROM posts')).toEqual([
          { words: 4, score: 40 },
        ]);
      },
    });
  });

  it("a BEFORE UPDATE trigger on one partition only counts as the table's", async () => {
    const db = await createTestDatabase();
    try {
      await db.query(
        'CREATE TABLE events (id int PRIMARY KEY, n int, note text) PARTITION BY RANGE (id)',
      );
      await db.query('CREATE TABLE events_low PARTITION OF events FOR VALUES FROM (0) TO (100)');
      await db.query('CREATE TABLE events_high PARTITION OF events FOR VALUES FROM (100) TO (200)');
      await db.query(
        `CREATE FUNCTION bump() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN NEW.n := NEW.n + 1; RETURN NEW; END$$`,
      );
      await db.query(
        'CREATE TRIGGER events_bump BEFORE UPDATE ON events_high FOR EACH ROW EXECUTE FUNCTION bump()',
      );
      await db.query('INSERT INTO events SELECT g, g FROM generate_series(1, 199) g');
      const migration = await migrationFromYaml(
        'm1',
        'operations:\n  - add_column: {table: events, up: n * 2, column: {name: n2, type: int, nullable: true}}\n',
      );
      const { plan } = await withTidal(db.url, (t) => t.plan(migration));
      expect(plan.start.map((step) => step.summary)).toContain(
        `install the dual-write trigger on "events", fired by every INSERT and UPDATE: the table's own BEFORE UPDATE trigger "events_bump" may change what it syncs`,
      );
      await withTidal(db.url, (t) => t.start(migration));
      expect(await syncTriggerColumns(db.pool, 'events')).toEqual([]);
      await db.query(`UPDATE events SET note = 'seen' WHERE id IN (50, 150)`);
      await withTidal(db.url, (t) => t.complete());
      expect(
        await rows(db.pool, 'SELECT id, n, n2 FROM events WHERE id IN (50, 150) ORDER BY id'),
      ).toEqual([
        { id: 50, n: 50, n2: 100 },
        { id: 150, n: 151, n2: 302 },
      ]);
    } finally {
      await db.dispose();
    }
  });
});

describe('a column that catalog objects depend on', () => {
  // Dropping the old column at complete would fail on these ("other objects depend on it"), after
  // rollback is no longer possible: refused before anything runs.
  const trigger = 'CREATE TRIGGER t_c BEFORE UPDATE';
  const keep = 'ON t FOR EACH ROW EXECUTE FUNCTION keep()';
  it.each([
    [
      'a stored generated column',
      ', total int GENERATED ALWAYS AS (c * 2) STORED',
      '',
      // PostgreSQL 14 names the column, later majors its expression ('default value for ...').
      'column total of table t',
    ],
    ['a trigger UPDATE OF it', '', `${trigger} OF c ${keep}`, 'trigger t_c on table t'],
    [
      'a trigger WHEN on it',
      '',
      `${trigger} ${keep.replace('EXECUTE', 'WHEN (NEW.c <> OLD.c) EXECUTE')}`,
      'trigger t_c on table t',
    ],
  ])('refuses a type change of a column used by %s', async (_, column, userTrigger, named) => {
    const db = await createTestDatabase();
    try {
      await db.query(`CREATE TABLE t (id int PRIMARY KEY, c int${column})`);
      await db.query('INSERT INTO t (id, c) VALUES (1, 5)');
      await db.query(
        'CREATE FUNCTION keep() RETURNS trigger LANGUAGE plpgsql AS $$BEGIN RETURN NEW; END$$',
      );
      if (userTrigger) await db.query(userTrigger);
      const before = await snapshotCatalog(db.pool);
      const loaded = await migrationFromYaml(
        'm1',
        'operations:\n  - alter_column: {table: t, column: c, type: bigint, up: c, down: CAST(c AS integer)}\n',
      );
      const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(/not supported/);
      expect((error as Error).message).toMatch(new RegExp(`column "c" is used by [^;]*${named}`));
      expect(await snapshotCatalog(db.pool)).toEqual(before);
    } finally {
      await db.dispose();
    }
  });
});
