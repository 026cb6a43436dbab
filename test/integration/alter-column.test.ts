/** alter_column changes that touch only the catalog: no copy column, no backfill, no rewrite. */
import { describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { rows, runCycle, type Versions } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

const setup = [
  `CREATE TABLE events (id int PRIMARY KEY, name text NOT NULL DEFAULT 'unnamed', kind text DEFAULT 'meeting')`,
  "COMMENT ON COLUMN events.name IS 'what it is called'",
  "INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, 20) g",
];

/** The table's file node and columns: the same node means no rewrite, and no `_tidal_` column
 *  means no copy. */
async function physicalShape({ db }: Pick<Versions, 'db'>) {
  return rows<{ node: number; columns: string[] }>(
    db.pool,
    `SELECT c.relfilenode::int AS node,
            (SELECT array_agg(attname::text ORDER BY attnum) FROM pg_attribute
              WHERE attrelid = c.oid AND attnum > 0 AND NOT attisdropped) AS columns
       FROM pg_class c WHERE c.oid = 'events'::regclass`,
  );
}

describe('alter_column, catalog only', () => {
  it('gives the new version a new default, comment and name; the old version keeps its own', async () => {
    let shapeBefore: unknown;
    await runCycle({
      setup,
      migration: `
operations:
  - alter_column:
      table: events
      column: name
      name: title
      default: "'untitled'"
      comment: the event's title
      up: name
      down: title
`,
      async whileActive(v) {
        shapeBefore ??= await physicalShape(v);
        expect(await physicalShape(v)).toEqual(shapeBefore);
        const { old, next, pass } = v;
        await next.query('INSERT INTO events (id) VALUES ($1)', [100 + pass]);
        await old.query('INSERT INTO events (id) VALUES ($1)', [200 + pass]);
        expect(
          await rows(next, 'SELECT id, title FROM events WHERE id IN ($1, $2) ORDER BY id', [
            100 + pass,
            200 + pass,
          ]),
        ).toEqual([
          { id: 100 + pass, title: 'untitled' },
          { id: 200 + pass, title: 'unnamed' },
        ]);
        expect(await rows(old, 'SELECT name FROM events WHERE id = $1', [100 + pass])).toEqual([
          { name: 'untitled' },
        ]);
        const comment = await rows(
          v.db.pool,
          `SELECT col_description('public_m1.events'::regclass, 2) AS c, col_description('public.events'::regclass, 2) AS t`,
        );
        expect(comment).toEqual([{ c: "the event's title", t: 'what it is called' }]);
      },
      async afterComplete(db) {
        expect(
          await rows(
            db.pool,
            `SELECT pg_get_expr(d.adbin, d.adrelid) AS def, col_description(a.attrelid, a.attnum) AS comment
            FROM pg_attribute a JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
           WHERE a.attrelid = 'events'::regclass AND a.attname = 'title'`,
          ),
        ).toEqual([{ def: "'untitled'::text", comment: "the event's title" }]);
        expect(await physicalShape({ db })).toEqual([
          { node: (shapeBefore as { node: number }[])[0]?.node, columns: ['id', 'title', 'kind'] },
        ]);
      },
    });
  });

  it('drops a default for the new version only until complete', async () => {
    await runCycle({
      setup,
      migration: `
operations:
  - alter_column:
      table: events
      column: kind
      default: null
      up: kind
      down: kind
`,
      async whileActive({ old, next, pass }) {
        await next.query('INSERT INTO events (id, name) VALUES ($1, $2)', [300 + pass, 'n']);
        await old.query('INSERT INTO events (id, name) VALUES ($1, $2)', [400 + pass, 'o']);
        expect(
          await rows(next, 'SELECT kind FROM events WHERE id IN ($1, $2) ORDER BY id', [
            300 + pass,
            400 + pass,
          ]),
        ).toEqual([{ kind: null }, { kind: 'meeting' }]);
      },
      async afterComplete(db) {
        expect(
          await rows(
            db.pool,
            `SELECT count(*)::int AS n FROM pg_attrdef WHERE adrelid = 'events'::regclass`,
          ),
        ).toEqual([{ n: 1 }]);
      },
    });
  });

  it('drops NOT NULL at start without a rewrite; rollback gives NULL rows their value from down', async () => {
    let node = 0;
    await runCycle({
      setup,
      migration: `
operations:
  - alter_column:
      table: events
      column: name
      nullable: true
      up: name
      down: "coalesce(name, 'placeholder ' || id)"
`,
      async whileActive(v) {
        const [shape] = await physicalShape(v);
        node ||= shape?.node ?? 0;
        expect(shape).toEqual({ node, columns: ['id', 'name', 'kind'] });
        await v.next.query('INSERT INTO events (id, name) VALUES ($1, NULL)', [500 + v.pass]);
        expect(await rows(v.old, 'SELECT name FROM events WHERE id = $1', [500 + v.pass])).toEqual([
          { name: null },
        ]);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, 'SELECT name FROM events WHERE id = 501')).toEqual([
          { name: 'placeholder 501' },
        ]);
      },
      async afterComplete(db) {
        expect(
          await rows(
            db.pool,
            `SELECT attnotnull FROM pg_attribute WHERE attrelid = 'events'::regclass AND attname = 'name'`,
          ),
        ).toEqual([{ attnotnull: false }]);
        expect(
          await rows(db.pool, 'SELECT name FROM events WHERE id IN (501, 502) ORDER BY id'),
        ).toEqual([{ name: 'placeholder 501' }, { name: null }]);
      },
    });
  });

  it('widens a type in the catalog only, at complete: no copy, no rewrite, views kept', async () => {
    const files = (db: Queryable) =>
      rows(
        db,
        `SELECT relname AS name, relfilenode::int AS node FROM pg_class
          WHERE relname IN ('events', 'events_name_idx') AND relkind IN ('r', 'i')
            AND relnamespace = 'public'::regnamespace ORDER BY 1`,
      );
    let before: unknown;
    await runCycle({
      setup: [
        "CREATE TABLE events (id int PRIMARY KEY, name varchar(10) NOT NULL DEFAULT 'unnamed')",
        'CREATE INDEX events_name_idx ON events (name)',
        "INSERT INTO events SELECT g, 'event ' || g FROM generate_series(1, 20) g",
      ],
      migration: `
operations:
  - alter_column: {table: events, column: name, type: varchar(40), comment: the name}
`,
      async whileActive({ db, old, next, pass }) {
        before ??= await files(db.pool);
        expect(await files(db.pool)).toEqual(before);
        expect((await physicalShape({ db }))[0]?.columns).toEqual(['id', 'name']);
        // Until complete both versions keep the old type.
        for (const version of [old, next]) {
          await expect(
            version.query(`INSERT INTO events VALUES ($1, repeat('x', 20))`, [100 + pass]),
          ).rejects.toThrow(/character varying\(10\)/);
        }
        await next.query(`INSERT INTO events (id) VALUES ($1)`, [100 + pass]);
        await db.query(`GRANT SELECT ON public_m1.events TO PUBLIC`);
      },
      async afterComplete(db) {
        expect(await files(db.pool)).toEqual(before);
        const types = await rows(
          db.pool,
          `SELECT attrelid::regclass::text AS rel, format_type(atttypid, atttypmod) AS type,
                  col_description(attrelid, attnum) AS comment
             FROM pg_attribute WHERE attname = 'name'
              AND attrelid IN ('public.events'::regclass, 'public_m1.events'::regclass) ORDER BY 1`,
        );
        expect(types).toEqual([
          { rel: 'events', type: 'character varying(40)', comment: 'the name' },
          { rel: 'public_m1.events', type: 'character varying(40)', comment: 'the name' },
        ]);
        // The view was made again as it was: comment (above), default and grant.
        await db.query(`INSERT INTO public_m1.events (id) VALUES (300)`);
        expect(
          await rows(db.pool, `SELECT name FROM events WHERE id IN (102, 300) ORDER BY id`),
        ).toEqual([{ name: 'unnamed' }, { name: 'unnamed' }]);
        await db.query(`INSERT INTO public_m1.events VALUES (301, repeat('x', 40))`);
        expect(
          await rows(
            db.pool,
            `SELECT has_table_privilege('public', 'public_m1.events', 'SELECT') AS granted`,
          ),
        ).toEqual([{ granted: true }]);
      },
    });
  });

  it('takes the copy path for a type change PostgreSQL would rewrite or scan for', async () => {
    const db = await createTestDatabase();
    try {
      await db.query(`CREATE TABLE events (id int PRIMARY KEY, name varchar(10), code varchar(10)
                        CHECK (length(code) > 1), note text)`);
      const loaded = await migrationFromYaml(
        'm1',
        `
operations:
  - alter_column: {table: events, column: name, type: varchar(5), up: "left(name, 5)"}
  - alter_column: {table: events, column: code, type: text}
  - alter_column: {table: events, column: note, type: varchar(100)}
  - alter_column: {table: events, column: id, type: int}
`,
      );
      const { plan } = await withTidal(db.url, (t) => t.plan(loaded));
      expect(plan.paths?.map((p) => p.path.split(':')[0])).toEqual([
        // Narrowing rewrites; a check over the column is checked again by a scan.
        'copy column "_tidal_new_name" filled by up, through the dual-write trigger and the backfill of "events"',
        'copy column "_tidal_new_code" filled by up, through the dual-write trigger and the backfill of "events"',
        // text to varchar(100) checks every value.
        'copy column "_tidal_new_note" filled by up, through the dual-write trigger and the backfill of "events"',
        // The same type: nothing to do.
        'catalog only',
      ]);
    } finally {
      await db.dispose();
    }
  });

  it('refuses, before anything runs, a change it cannot carry over yet', async () => {
    const db = await createTestDatabase();
    try {
      await db.query('CREATE TABLE pairs (a int, b int, PRIMARY KEY (a, b))');
      const loaded = await migrationFromYaml(
        'm1',
        `
operations:
  - alter_column:
      table: pairs
      column: a
      type: bigint
`,
      );
      const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toMatch(
        /m1\.yaml: operations\[0\]\.alter_column\.column: .*primary key.*not supported/,
      );
      expect(await rows(db.pool, `SELECT to_regnamespace('tidal') AS s`)).toEqual([{ s: null }]);
    } finally {
      await db.dispose();
    }
  });

  it('plan says which path each change takes, and a table is backfilled once', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of setup) await db.query(sql);
      await db.query('ALTER TABLE events ADD CONSTRAINT kind_known CHECK (kind IS NOT NULL)');
      const loaded = await migrationFromYaml(
        'm1',
        `
operations:
  - alter_column: {table: events, column: name, comment: the name}
  - drop_constraint: {table: events, name: kind_known, up: kind, down: kind}
  - alter_column: {table: events, column: kind, nullable: false, up: "coalesce(kind, 'none')"}
  - alter_column: {table: events, column: name, unique: {name: name_unique}, up: "name || id"}
  - rename_column: {table: events, from: id, to: event_id}
`,
      );
      const { plan } = await withTidal(db.url, (t) => t.plan(loaded));
      expect(plan.paths).toEqual([
        {
          operation: 'operations[0].alter_column',
          path: 'catalog only: no copy column, no backfill, no rewrite',
        },
        {
          operation: 'operations[1].drop_constraint',
          path: 'catalog only: dropped in place, no copy column, no backfill',
        },
        {
          operation: 'operations[2].alter_column',
          path: 'copy column "_tidal_new_kind" filled by up, through the dual-write trigger and the backfill of "events"',
        },
        {
          operation: 'operations[3].alter_column',
          path: 'copy column "_tidal_new_name" filled by up, through the dual-write trigger and the backfill of "events"',
        },
      ]);
      // Both copies are filled by one pass over the table, and the dropped check is not
      // rebuilt on the copy of its column.
      expect(plan.backfills.map((b) => [b.table, b.set.map((s) => s.column)])).toEqual([
        ['events', ['_tidal_new_kind', '_tidal_new_name']],
      ]);
      expect(plan.start.filter((s) => s.sql.includes('kind_known')).map((s) => s.sql)).toEqual([
        'ALTER TABLE "public"."events" DROP CONSTRAINT "kind_known"',
      ]);
      // The other order is refused: the copy carries the check over.
      const reversed = await migrationFromYaml(
        'm2',
        `
operations:
  - alter_column: {table: events, column: kind, nullable: false, up: "coalesce(kind, 'none')"}
  - drop_constraint: {table: events, name: kind_known, up: kind, down: kind}
`,
      );
      await expect(withTidal(db.url, (t) => t.plan(reversed))).rejects.toThrow(
        /m2\.yaml: operations\[1\]\.drop_constraint\.name: column "kind" of constraint "kind_known" is changed or dropped by an earlier operation of this migration; drop the constraint first/,
      );
      expect(await rows(db.pool, `SELECT to_regnamespace('tidal') AS s`)).toEqual([{ s: null }]);
    } finally {
      await db.dispose();
    }
  });
});

describe('two catalog-only alter_column operations on one column', () => {
  /** A comment and a widening, each with `up` and `down` the column itself (as pgroll writes
   *  them), in the given order. */
  const twoChanges = (column: string, order: 'comment first' | 'type first') => {
    const comment = `  - alter_column: {table: people, column: ${column}, comment: "the ${column}", up: ${column}, down: ${column}}\n`;
    const widen = `  - alter_column: {table: people, column: ${column}, type: varchar(80), up: ${column}, down: ${column}}\n`;
    return `operations:\n${order === 'comment first' ? comment + widen : widen + comment}`;
  };
  const people =
    'CREATE TABLE people (id int PRIMARY KEY, title varchar(40) NOT NULL, name varchar(40))';

  it('are planned as one change in the catalog: no copy column, no backfill, in either order', async () => {
    const db = await createTestDatabase();
    try {
      await db.query(people);
      // `name` is a keyword PostgreSQL lets stand bare for a column; `title` is a plain name.
      for (const column of ['title', 'name']) {
        for (const order of ['comment first', 'type first'] as const) {
          const loaded = await migrationFromYaml('m1', twoChanges(column, order));
          const { plan } = await withTidal(db.url, (t) => t.plan(loaded));
          expect(plan.paths, `${column}, ${order}`).toEqual([
            {
              operation: 'operations[0] and [1].alter_column',
              path: 'catalog only: PostgreSQL changes the type to varchar(80) without a rewrite; at complete, so both versions keep the old type until then',
            },
          ]);
          expect(plan.backfills).toEqual([]);
          expect(plan.start.filter((s) => /ADD COLUMN|TRIGGER/.test(s.sql))).toEqual([]);
          expect(plan.afterBackfill).toEqual([]);
        }
      }
    } finally {
      await db.dispose();
    }
  });

  it('start and complete leave the wider type and the comment without rewriting the table', async () => {
    const fileNode = (db: Queryable) =>
      rows(db, `SELECT relfilenode::int AS node FROM pg_class WHERE oid = 'people'::regclass`);
    let before: unknown;
    await runCycle({
      setup: [people, "INSERT INTO people SELECT g, 'title ' || g FROM generate_series(1, 20) g"],
      migration: twoChanges('title', 'type first'),
      async whileActive({ db, next, pass }) {
        before ??= await fileNode(db.pool);
        expect(await fileNode(db.pool)).toEqual(before);
        await next.query(`INSERT INTO people VALUES ($1, 'new')`, [100 + pass]);
      },
      async afterComplete(db) {
        expect(await fileNode(db.pool)).toEqual(before);
        expect(
          await rows(
            db.pool,
            `SELECT format_type(atttypid, atttypmod) AS type, col_description(attrelid, attnum) AS comment
               FROM pg_attribute WHERE attrelid = 'people'::regclass AND attname = 'title'`,
          ),
        ).toEqual([{ type: 'character varying(80)', comment: 'the title' }]);
        await db.query(`INSERT INTO people VALUES (300, repeat('x', 80))`);
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM people')).toEqual([{ n: 23 }]);
      },
    });
  });
});

describe('the in-place probe, once per table shape', () => {
  it('answers alike for tables of one shape, and apart for a column collation that makes an index rebuild', async () => {
    const db = await createTestDatabase();
    try {
      for (const [table, collation] of [
        ['p1', ''],
        ['p2', ' COLLATE "C"'],
        ['p3', ''],
      ]) {
        await db.query(`CREATE TABLE ${table} (id int PRIMARY KEY, v varchar(10)${collation})`);
        await db.query(`CREATE INDEX ON ${table} (v)`);
      }
      const loaded = await migrationFromYaml(
        'm1',
        `operations:
${['p1', 'p2', 'p3'].map((t) => `  - alter_column: {table: ${t}, column: v, type: varchar(20)}`).join('\n')}
`,
      );
      const { plan } = await withTidal(db.url, (t) => t.plan(loaded));
      // A new type drops the collation "C" for the type's default: the index is rebuilt.
      expect(plan.paths?.map((p) => p.path.split(':')[0])).toEqual([
        'catalog only',
        'copy column "_tidal_new_v" filled by up, through the dual-write trigger and the backfill of "p2"',
        'catalog only',
      ]);
    } finally {
      await db.dispose();
    }
  });
});
