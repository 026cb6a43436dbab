/** create_constraint: multi-column unique, check and foreign key over copy columns on existing
 *  tables, direct on a table the migration creates, and what is refused or rolled back. */

import { describe, expect, it } from 'vitest';
import { InputError, OperationError } from '../../src/errors.js';
import { constraintsOf, snapshotCatalog } from '../helpers/catalog.js';
import { rows, runCycle } from '../helpers/cycle.js';
import { createTestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

/** pgroll example 43's table, without ticket_type. */
const tickets =
  'CREATE TABLE tickets (ticket_id serial PRIMARY KEY, sellers_name varchar(255), sellers_zip int)';

const all = 'SELECT ticket_id AS id, sellers_name AS name, sellers_zip AS zip FROM tickets';
const one = `${all} WHERE ticket_id = $1`;
const pkey = { name: 'tickets_pkey', def: 'PRIMARY KEY (ticket_id)', validated: true };

describe('create_constraint on an existing table', () => {
  it('adds a multi-column unique (example 44) with an up that makes duplicate pairs unique', async () => {
    await runCycle({
      setup: [
        tickets,
        `INSERT INTO tickets (sellers_name, sellers_zip)
         VALUES ('alice', 10), ('alice', 10), ('bob', 20), ('bob', 21), (NULL, 30)`,
      ],
      migration: `
operations:
  - create_constraint:
      type: unique
      table: tickets
      name: unique_zip_name
      columns: [sellers_name, sellers_zip]
      up:
        sellers_name: sellers_name || '-' || ticket_id
        sellers_zip: sellers_zip
      down:
        sellers_name: sellers_name
        sellers_zip: sellers_zip
`,
      async whileActive({ old, next, pass }) {
        expect(await rows(next, `${all} WHERE ticket_id <= 5 ORDER BY 1`)).toEqual([
          { id: 1, name: 'alice-1', zip: 10 },
          { id: 2, name: 'alice-2', zip: 10 },
          { id: 3, name: 'bob-3', zip: 20 },
          { id: 4, name: 'bob-4', zip: 21 },
          { id: 5, name: null, zip: 30 },
        ]);
        expect(await rows(old, `${all} WHERE ticket_id <= 2 ORDER BY 1`)).toEqual([
          { id: 1, name: 'alice', zip: 10 },
          { id: 2, name: 'alice', zip: 10 },
        ]);
        // The old columns have no constraint: the old version still writes a duplicate pair.
        await old.query(`INSERT INTO tickets VALUES ($1, 'alice', 10)`, [100 + pass]);
        expect(await rows(old, one, [100 + pass])).toEqual([
          { id: 100 + pass, name: 'alice', zip: 10 },
        ]);
        expect(await rows(next, one, [100 + pass])).toEqual([
          { id: 100 + pass, name: `alice-${100 + pass}`, zip: 10 },
        ]);
        // The new version may not.
        await expect(next.query(`INSERT INTO tickets VALUES (999, 'alice-1', 10)`)).rejects.toThrow(
          /duplicate key.*unique_zip_name/,
        );
        await expect(
          next.query(
            `UPDATE tickets SET sellers_name = 'bob-3', sellers_zip = 20 WHERE ticket_id = 4`,
          ),
        ).rejects.toThrow(/duplicate key.*unique_zip_name/);
        await next.query(`INSERT INTO tickets VALUES ($1, 'carol', 40)`, [200 + pass]);
        expect(await rows(old, one, [200 + pass])).toEqual([
          { id: 200 + pass, name: 'carol', zip: 40 },
        ]);
      },
      async afterRollback(db) {
        expect(await constraintsOf(db.pool, 'tickets')).toEqual([pkey]);
        expect(await rows(db.pool, `${all} WHERE ticket_id IN (1, 101, 201) ORDER BY 1`)).toEqual([
          { id: 1, name: 'alice', zip: 10 },
          { id: 101, name: 'alice', zip: 10 },
          { id: 201, name: 'carol', zip: 40 },
        ]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'tickets')).toEqual([
          pkey,
          { name: 'unique_zip_name', def: 'UNIQUE (sellers_name, sellers_zip)', validated: true },
        ]);
        // Row 201 was written by the new version before rollback, so the second start's backfill
        // ran up over it; row 202 was written by the new version after.
        expect(await rows(db.pool, `${all} ORDER BY 1`)).toEqual([
          { id: 1, name: 'alice-1', zip: 10 },
          { id: 2, name: 'alice-2', zip: 10 },
          { id: 3, name: 'bob-3', zip: 20 },
          { id: 4, name: 'bob-4', zip: 21 },
          { id: 5, name: null, zip: 30 },
          { id: 101, name: 'alice-101', zip: 10 },
          { id: 102, name: 'alice-102', zip: 10 },
          { id: 201, name: 'carol-201', zip: 40 },
          { id: 202, name: 'carol', zip: 40 },
        ]);
        // The copies took the columns' names and types.
        const columns = `SELECT string_agg(attname || ' ' || format_type(atttypid, atttypmod), ', ' ORDER BY attnum)
          AS c FROM pg_attribute WHERE attrelid = 'tickets'::regclass AND attnum > 0 AND NOT attisdropped`;
        expect(await rows(db.pool, columns)).toEqual([
          { c: 'ticket_id integer, sellers_name character varying(255), sellers_zip integer' },
        ]);
        await expect(db.query(`INSERT INTO tickets VALUES (999, 'carol', 40)`)).rejects.toThrow(
          /unique_zip_name/,
        );
      },
    });
  });

  it('adds a multi-column check (example 45); up fixes rows the check rejects', async () => {
    await runCycle({
      setup: [
        tickets,
        `INSERT INTO tickets (sellers_name, sellers_zip)
         VALUES ('alice', 0), ('bob', 0), ('bob', -5), ('carol', 7), ('alice', -1)`,
      ],
      migration: `
operations:
  - create_constraint:
      type: check
      table: tickets
      name: check_zip_name
      columns: [sellers_name, sellers_zip]
      check: sellers_name = 'alice' OR sellers_zip > 0
      up:
        sellers_name: sellers_name
        sellers_zip: SELECT CASE WHEN sellers_name != 'alice' AND sellers_zip <= 0 THEN 123 WHEN sellers_name != 'alice' THEN sellers_zip ELSE sellers_zip END
      down:
        sellers_name: sellers_name
        sellers_zip: sellers_zip
`,
      async whileActive({ old, next, pass }) {
        expect(await rows(next, `${all} WHERE ticket_id <= 5 ORDER BY 1`)).toEqual([
          { id: 1, name: 'alice', zip: 0 },
          { id: 2, name: 'bob', zip: 123 },
          { id: 3, name: 'bob', zip: 123 },
          { id: 4, name: 'carol', zip: 7 },
          { id: 5, name: 'alice', zip: -1 },
        ]);
        expect(await rows(old, `${all} WHERE ticket_id IN (2, 3) ORDER BY 1`)).toEqual([
          { id: 2, name: 'bob', zip: 0 },
          { id: 3, name: 'bob', zip: -5 },
        ]);
        await old.query(`INSERT INTO tickets VALUES ($1, 'dave', -1)`, [100 + pass]);
        expect(await rows(old, one, [100 + pass])).toEqual([
          { id: 100 + pass, name: 'dave', zip: -1 },
        ]);
        expect(await rows(next, one, [100 + pass])).toEqual([
          { id: 100 + pass, name: 'dave', zip: 123 },
        ]);
        await expect(next.query(`INSERT INTO tickets VALUES (999, 'dave', -1)`)).rejects.toThrow(
          /check_zip_name/,
        );
        await expect(
          next.query(`UPDATE tickets SET sellers_name = 'eve' WHERE ticket_id = 1`),
        ).rejects.toThrow(/check_zip_name/);
        // What the check allows through either column.
        await next.query(`INSERT INTO tickets VALUES ($1, 'alice', -3)`, [200 + pass]);
        expect(await rows(old, one, [200 + pass])).toEqual([
          { id: 200 + pass, name: 'alice', zip: -3 },
        ]);
      },
      async afterRollback(db) {
        expect(await constraintsOf(db.pool, 'tickets')).toEqual([pkey]);
        expect(await rows(db.pool, `${all} WHERE ticket_id IN (2, 101, 201) ORDER BY 1`)).toEqual([
          { id: 2, name: 'bob', zip: 0 },
          { id: 101, name: 'dave', zip: -1 },
          { id: 201, name: 'alice', zip: -3 },
        ]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'tickets')).toEqual([
          {
            name: 'check_zip_name',
            def: "CHECK ((((sellers_name)::text = 'alice'::text) OR (sellers_zip > 0)))",
            validated: true,
          },
          pkey,
        ]);
        expect(await rows(db.pool, `${all} ORDER BY 1`)).toEqual([
          { id: 1, name: 'alice', zip: 0 },
          { id: 2, name: 'bob', zip: 123 },
          { id: 3, name: 'bob', zip: 123 },
          { id: 4, name: 'carol', zip: 7 },
          { id: 5, name: 'alice', zip: -1 },
          { id: 101, name: 'dave', zip: 123 },
          { id: 102, name: 'dave', zip: 123 },
          { id: 201, name: 'alice', zip: -3 },
          { id: 202, name: 'alice', zip: -3 },
        ]);
        await expect(db.query(`INSERT INTO tickets VALUES (999, 'dave', 0)`)).rejects.toThrow(
          /check_zip_name/,
        );
      },
    });
  });

  it('adds a multi-column foreign key to a composite primary key (example 47); up clears dangling pairs', async () => {
    const valid = `EXISTS (SELECT 1 FROM sellers s WHERE s.name = sellers_name AND s.zip = sellers_zip)`;
    await runCycle({
      setup: [
        'CREATE TABLE sellers (name varchar(255), zip int, PRIMARY KEY (name, zip))',
        "INSERT INTO sellers VALUES ('alice', 1), ('bob', 2)",
        tickets,
        `INSERT INTO tickets (sellers_name, sellers_zip)
         VALUES ('alice', 1), ('bob', 2), ('alice', 2), (NULL, 1), ('carol', 3)`,
      ],
      migration: `
operations:
  - create_constraint:
      type: foreign_key
      table: tickets
      name: fk_sellers
      columns: [sellers_name, sellers_zip]
      references:
        table: sellers
        columns: [name, zip]
      up:
        sellers_name: SELECT CASE WHEN ${valid} THEN sellers_name ELSE NULL END
        sellers_zip: SELECT CASE WHEN ${valid} THEN sellers_zip ELSE NULL END
      down:
        sellers_name: sellers_name
        sellers_zip: sellers_zip
`,
      async whileActive({ old, next, pass }) {
        expect(await rows(next, `${all} WHERE ticket_id <= 5 ORDER BY 1`)).toEqual([
          { id: 1, name: 'alice', zip: 1 },
          { id: 2, name: 'bob', zip: 2 },
          { id: 3, name: null, zip: null },
          { id: 4, name: null, zip: null },
          { id: 5, name: null, zip: null },
        ]);
        expect(await rows(old, `${all} WHERE ticket_id IN (3, 5) ORDER BY 1`)).toEqual([
          { id: 3, name: 'alice', zip: 2 },
          { id: 5, name: 'carol', zip: 3 },
        ]);
        await old.query(`INSERT INTO tickets VALUES ($1, 'bob', 1)`, [100 + pass]);
        expect(await rows(old, one, [100 + pass])).toEqual([
          { id: 100 + pass, name: 'bob', zip: 1 },
        ]);
        expect(await rows(next, one, [100 + pass])).toEqual([
          { id: 100 + pass, name: null, zip: null },
        ]);
        await expect(next.query(`INSERT INTO tickets VALUES (999, 'bob', 1)`)).rejects.toThrow(
          /fk_sellers/,
        );
        await expect(
          next.query('UPDATE tickets SET sellers_zip = 9 WHERE ticket_id = 1'),
        ).rejects.toThrow(/fk_sellers/);
        await next.query(`INSERT INTO tickets VALUES ($1, 'bob', 2)`, [200 + pass]);
        expect(await rows(old, one, [200 + pass])).toEqual([
          { id: 200 + pass, name: 'bob', zip: 2 },
        ]);
      },
      async afterRollback(db) {
        expect(await constraintsOf(db.pool, 'tickets')).toEqual([pkey]);
        expect(await rows(db.pool, `${all} WHERE ticket_id IN (3, 101, 201) ORDER BY 1`)).toEqual([
          { id: 3, name: 'alice', zip: 2 },
          { id: 101, name: 'bob', zip: 1 },
          { id: 201, name: 'bob', zip: 2 },
        ]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'tickets')).toEqual([
          {
            name: 'fk_sellers',
            def: 'FOREIGN KEY (sellers_name, sellers_zip) REFERENCES sellers(name, zip)',
            validated: true,
          },
          pkey,
        ]);
        expect(await rows(db.pool, `${all} ORDER BY 1`)).toEqual([
          { id: 1, name: 'alice', zip: 1 },
          { id: 2, name: 'bob', zip: 2 },
          { id: 3, name: null, zip: null },
          { id: 4, name: null, zip: null },
          { id: 5, name: null, zip: null },
          { id: 101, name: null, zip: null },
          { id: 102, name: null, zip: null },
          { id: 201, name: 'bob', zip: 2 },
          { id: 202, name: 'bob', zip: 2 },
        ]);
        await expect(db.query(`DELETE FROM sellers WHERE name = 'bob'`)).rejects.toThrow(
          /fk_sellers/,
        );
      },
    });
  });

  it('keeps ON DELETE SET NULL (columns) on the copies (PostgreSQL 15 and later)', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of [
        'CREATE TABLE sellers (name text, zip int, PRIMARY KEY (name, zip))',
        "INSERT INTO sellers VALUES ('alice', 1)",
        'CREATE TABLE tickets (id int PRIMARY KEY, sellers_name text, sellers_zip int)',
        "INSERT INTO tickets VALUES (1, 'alice', 1)",
      ])
        await db.query(sql);
      const loaded = await migrationFromYaml(
        'm1',
        `operations:
  - create_constraint:
      type: foreign_key
      table: tickets
      name: fk_sellers
      columns: [sellers_name, sellers_zip]
      references: {table: sellers, columns: [name, zip], on_delete: SET NULL, on_delete_set_columns: [sellers_zip]}
      up: {sellers_name: sellers_name, sellers_zip: sellers_zip}
      down: {sellers_name: sellers_name, sellers_zip: sellers_zip}
`,
      );
      const [server] = await rows<{ major: number }>(
        db.pool,
        `SELECT current_setting('server_version_num')::int / 10000 AS major`,
      );
      const started = withTidal(db.url, (t) => t.start(loaded, { complete: true }));
      if ((server?.major ?? 0) < 15) {
        // The syntax is PostgreSQL 15's: older servers reject it and start undoes itself.
        await expect(started).rejects.toThrow(/rolled back/);
        return;
      }
      await started;
      expect((await constraintsOf(db.pool, 'tickets')).map((c) => c.def)).toContain(
        'FOREIGN KEY (sellers_name, sellers_zip) REFERENCES sellers(name, zip) ON DELETE SET NULL (sellers_zip)',
      );
      await db.query(`DELETE FROM sellers`);
      expect(await rows(db.pool, 'SELECT sellers_name, sellers_zip FROM tickets')).toEqual([
        { sellers_name: 'alice', sellers_zip: null },
      ]);
    } finally {
      await db.dispose();
    }
  });

  it('builds a unique index with every index parameter, the tablespace too, in place and over copies', async () => {
    const db = await createTestDatabase();
    try {
      await db.query(tickets);
      await db.query(`INSERT INTO tickets (sellers_name, sellers_zip) VALUES ('alice', 1)`);
      const loaded = await migrationFromYaml(
        'm1',
        `operations:
  - create_constraint:
      type: unique
      table: tickets
      name: unique_name
      columns: [sellers_name]
      index_parameters: {include_columns: [ticket_id], storage_parameters: fillfactor = 70, tablespace: pg_default}
      up: {sellers_name: sellers_name}
      down: {sellers_name: sellers_name}
  - create_constraint:
      type: unique
      table: tickets
      name: unique_zip
      columns: [sellers_zip]
      index_parameters: {tablespace: pg_default}
      up: {sellers_zip: sellers_zip + 1}
      down: {sellers_zip: sellers_zip - 1}
`,
      );
      // pg_default is the only tablespace a test can count on, and the catalog shows it as no
      // tablespace at all: the statement is where the parameter shows.
      const { report } = await withTidal(db.url, (t) => t.plan(loaded));
      const builds = report.steps.filter((s) => s.sql.startsWith('CREATE UNIQUE INDEX'));
      expect(builds.map((s) => s.sql.replace(/^.* ON /, ''))).toEqual([
        `"public"."tickets" ("sellers_name") INCLUDE ("ticket_id") WITH (fillfactor = 70) TABLESPACE "pg_default"`,
        `"public"."tickets" ("_tidal_new_sellers_zip") TABLESPACE "pg_default"`,
      ]);
      await withTidal(db.url, (t) => t.start(loaded, { complete: true }));
      expect(await constraintsOf(db.pool, 'tickets')).toEqual([
        pkey,
        {
          name: 'unique_name',
          def: 'UNIQUE (sellers_name) INCLUDE (ticket_id)',
          validated: true,
        },
        { name: 'unique_zip', def: 'UNIQUE (sellers_zip)', validated: true },
      ]);
    } finally {
      await db.dispose();
    }
  });
});

describe('create_constraint primary_key with an up that changes values', () => {
  it('builds the key over a copy whose up gives NULLs a value; the backfill walks by location', async () => {
    const all = "SELECT code, label FROM labels WHERE label IN ('a', 'b', 'c') ORDER BY label";
    await runCycle({
      setup: [
        'CREATE TABLE labels (code int, label text)',
        `INSERT INTO labels VALUES (1, 'a'), (2, 'b'), (NULL, 'c')`,
      ],
      migration: `
operations:
  - create_constraint:
      type: primary_key
      table: labels
      name: labels_pkey
      columns: [code]
      up:
        code: coalesce(code, 0)
      down:
        code: code
`,
      async whileActive({ old, next, pass }) {
        expect(await rows(next, all)).toEqual([
          { code: 1, label: 'a' },
          { code: 2, label: 'b' },
          { code: 0, label: 'c' },
        ]);
        expect(await rows(old, "SELECT code FROM labels WHERE label = 'c'")).toEqual([
          { code: null },
        ]);
        // The new version's key holds already; the old version's writes pass through up.
        await expect(next.query(`INSERT INTO labels VALUES (1, 'dup')`)).rejects.toThrow(
          /duplicate key/,
        );
        await old.query(`INSERT INTO labels VALUES ($1::int, 'old ' || $1::int)`, [10 + pass]);
        expect(
          await rows(next, 'SELECT code FROM labels WHERE label = $1', [`old ${10 + pass}`]),
        ).toEqual([{ code: 10 + pass }]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'labels')).toEqual([
          { name: 'labels_pkey', def: 'PRIMARY KEY (code)', validated: true },
        ]);
        expect(await rows(db.pool, 'SELECT code FROM labels ORDER BY code')).toEqual([
          { code: 0 },
          { code: 1 },
          { code: 2 },
          { code: 11 },
          { code: 12 },
        ]);
      },
    });
  });
  it('replaces a primary key with one over a copy; the backfill walks the old key, which holds until complete', async () => {
    await runCycle({
      setup: [
        'CREATE TABLE codes (id int PRIMARY KEY, code int)',
        `INSERT INTO codes SELECT g, CASE WHEN g % 3 = 0 THEN NULL ELSE g + 1000 END
           FROM generate_series(1, 3000) g`,
      ],
      migration: `
operations:
  - drop_constraint:
      table: codes
      name: codes_pkey
      up: id
      down: id
  - create_constraint:
      type: primary_key
      table: codes
      name: codes_code_pkey
      columns: [code]
      up:
        code: coalesce(code, -id)
      down:
        code: code
`,
      async whileActive({ next }) {
        expect(await rows(next, 'SELECT code FROM codes WHERE id IN (1, 3) ORDER BY id')).toEqual([
          { code: 1001 },
          { code: -3 },
        ]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'codes')).toEqual([
          { name: 'codes_code_pkey', def: 'PRIMARY KEY (code)', validated: true },
        ]);
        expect(
          await rows(db.pool, 'SELECT count(DISTINCT code)::int AS n, min(code) AS low FROM codes'),
        ).toEqual([{ n: 3000, low: -3000 }]);
      },
    });
  });
});

describe('create_constraint on a table the migration creates', () => {
  it('adds a primary key (example 55) and a unique directly, without copy columns', async () => {
    await runCycle({
      setup: [],
      migration: `
operations:
  - create_table:
      name: tasks
      columns:
        - name: id
          type: serial
        - name: title
          type: varchar(255)
          nullable: false
        - name: owner
          type: text
  - create_constraint:
      name: tasks_pkey
      table: tasks
      columns: [id]
      type: primary_key
      up: {id: id}
      down: {id: id}
  - create_constraint:
      name: tasks_title_owner
      table: tasks
      columns: [title, owner]
      type: unique
      up: {title: title, owner: owner}
      down: {title: title, owner: owner}
`,
      async whileActive({ db, next, pass }) {
        expect(
          await rows(
            db.pool,
            `SELECT c.relname AS table, a.attname AS column FROM pg_attribute a
               JOIN pg_class c ON c.oid = a.attrelid
              WHERE c.relnamespace = 'public'::regnamespace AND c.relkind = 'r' AND a.attnum > 0 AND NOT a.attisdropped
              ORDER BY a.attnum`,
          ),
        ).toEqual([
          { table: 'tasks', column: 'id' },
          { table: 'tasks', column: 'title' },
          { table: 'tasks', column: 'owner' },
        ]);
        expect(await constraintsOf(db.pool, 'tasks')).toEqual([
          { name: 'tasks_pkey', def: 'PRIMARY KEY (id)', validated: true },
          { name: 'tasks_title_owner', def: 'UNIQUE (title, owner)', validated: true },
        ]);
        await next.query(`INSERT INTO tasks (id, title, owner) VALUES ($1, 'write', 'ann')`, [
          pass,
        ]);
        await expect(
          next.query(`INSERT INTO tasks (id, title, owner) VALUES ($1, 'read', 'bob')`, [pass]),
        ).rejects.toThrow(/tasks_pkey/);
        await expect(
          next.query(`INSERT INTO tasks (id, title, owner) VALUES (99, 'write', 'ann')`),
        ).rejects.toThrow(/tasks_title_owner/);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'tasks')).toEqual([
          { name: 'tasks_pkey', def: 'PRIMARY KEY (id)', validated: true },
          { name: 'tasks_title_owner', def: 'UNIQUE (title, owner)', validated: true },
        ]);
        expect(await rows(db.pool, 'SELECT id, title, owner FROM tasks')).toEqual([
          { id: 2, title: 'write', owner: 'ann' },
        ]);
      },
    });
  });
});

describe('create_constraint, refused or failed', () => {
  const setup = [
    tickets,
    'ALTER TABLE tickets ADD CONSTRAINT zip_positive CHECK (sellers_zip > 0)',
    'CREATE INDEX tickets_zip_idx ON tickets (sellers_zip)',
    `INSERT INTO tickets (sellers_name, sellers_zip) VALUES ('alice', 1), ('alice', 1), ('bob', 2)`,
  ];
  const operation = (type: string, name: string, columns: string[]) => `
operations:
  - create_constraint:
      type: ${type}
      table: tickets
      name: ${name}
      columns: [${columns.join(', ')}]
      up: {${columns.map((c) => `${c}: ${c}`).join(', ')}}
      down: {${columns.map((c) => `${c}: ${c}`).join(', ')}}
`;

  it('refuses a second primary key, a taken name and an unknown column, before anything runs', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of setup) await db.query(sql);
      const before = await snapshotCatalog(db.pool);
      const data = await rows(db.pool, `${all} ORDER BY 1`);
      const cases = [
        [
          operation('primary_key', 'tickets_pk2', ['sellers_name']),
          /^m1\.yaml: operations\[0\]\.create_constraint\.type: table "tickets" already has a primary key/,
        ],
        [
          operation('unique', 'zip_positive', ['sellers_zip']),
          /^m1\.yaml: operations\[0\]\.create_constraint\.name: constraint "zip_positive" already exists on table "tickets"/,
        ],
        [
          operation('unique', 'tickets_zip_idx', ['sellers_zip']),
          /^m1\.yaml: operations\[0\]\.create_constraint\.name: a table or index named "tickets_zip_idx" already exists/,
        ],
        [
          operation('unique', 'u', ['sellers_name', 'nope']),
          /^m1\.yaml: operations\[0\]\.create_constraint\.columns\[1\]: column "nope" does not exist on table "tickets"/,
        ],
      ] as const;
      for (const [yaml, message] of cases) {
        const loaded = await migrationFromYaml('m1', yaml);
        const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
        expect(error, yaml).toBeInstanceOf(InputError);
        expect((error as Error).message).toMatch(message);
        expect(await rows(db.pool, `SELECT to_regnamespace('tidal') AS s`)).toEqual([{ s: null }]);
      }
      expect(await snapshotCatalog(db.pool)).toEqual(before);
      expect(await rows(db.pool, `${all} ORDER BY 1`)).toEqual(data);
    } finally {
      await db.dispose();
    }
  });

  it('fails start and rolls back when up leaves duplicate pairs', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of setup) await db.query(sql);
      const before = await snapshotCatalog(db.pool);
      const data = await rows(db.pool, `${all} ORDER BY 1`);
      const loaded = await migrationFromYaml(
        'm1',
        operation('unique', 'unique_zip_name', ['sellers_name', 'sellers_zip']),
      );
      const error = await withTidal(db.url, (t) => t.start(loaded)).catch((e: Error) => e);
      expect(error).toBeInstanceOf(OperationError);
      expect((error as Error).message).toMatch(/rolled back/);
      // The message names the constraint's index and the rows that break it, by primary key.
      expect((error as Error).message).toMatch(/unique_zip_name/);
      expect((error as Error).message).toMatch(
        /rows that break it: ticket_id = 1; ticket_id = 2\n/,
      );
      expect(await snapshotCatalog(db.pool)).toEqual(before);
      expect(await rows(db.pool, `${all} ORDER BY 1`)).toEqual(data);
      const status = await withTidal(db.url, (t) => t.status());
      expect(status.active).toBeNull();
    } finally {
      await db.dispose();
    }
  });
});
