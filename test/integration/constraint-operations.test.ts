/** rename_constraint and set_replica_identity through the full cycle (seed, start, both versions,
 *  rollback, start again, complete), and the bad input each refuses before anything runs. */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/errors.js';
import type { Queryable } from '../../src/pg/queryable.js';
import { type CatalogSnapshot, snapshotCatalog } from '../helpers/catalog.js';
import { rows, runCycle } from '../helpers/cycle.js';
import { createTestDatabase, type TestDatabase } from '../helpers/db.js';
import { migrationFromYaml, withTidal } from '../helpers/tidal.js';

const people = [
  `CREATE TABLE people (id int PRIMARY KEY, name varchar(255) NOT NULL CONSTRAINT name_length CHECK (length(name) > 3),
     email text NOT NULL CONSTRAINT people_email_key UNIQUE)`,
  `INSERT INTO people SELECT g, 'person ' || g, 'p' || g || '@example.com' FROM generate_series(1, 20) g`,
];

/** The constraints of a table (not-null ones aside: PostgreSQL 18 names those too). */
async function constraintsOf(db: Queryable, table: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT conname AS name FROM pg_constraint WHERE conrelid = $1::regclass AND contype <> 'n' ORDER BY 1`,
    [table],
  );
  return rows.map((r) => r.name);
}

async function indexesOf(db: Queryable, table: string): Promise<string[]> {
  const { rows } = await db.query<{ name: string }>(
    `SELECT indexrelid::regclass::text AS name FROM pg_index WHERE indrelid = $1::regclass ORDER BY 1`,
    [table],
  );
  return rows.map((r) => r.name);
}

describe('rename_constraint', () => {
  it('renames a check constraint at start, back at rollback; both versions keep working', async () => {
    await runCycle({
      setup: people,
      migration: `
operations:
  - rename_constraint:
      table: people
      from: name_length
      to: name_length_check
`,
      async whileActive({ db, old, next, pass }) {
        expect(await constraintsOf(db.pool, 'people')).toEqual([
          'name_length_check',
          'people_email_key',
          'people_pkey',
        ]);
        // The check still holds for both versions, under its new name.
        await old.query(`INSERT INTO people VALUES ($1, 'old row', $2)`, [
          100 + pass,
          `old${pass}@x`,
        ]);
        await next.query(`INSERT INTO people VALUES ($1, 'new row', $2)`, [
          200 + pass,
          `new${pass}@x`,
        ]);
        await expect(old.query(`INSERT INTO people VALUES (300, 'ab', 'a@x')`)).rejects.toThrow(
          /name_length_check/,
        );
        await expect(next.query(`INSERT INTO people VALUES (300, 'ab', 'a@x')`)).rejects.toThrow(
          /name_length_check/,
        );
        expect(
          await rows(next, 'SELECT name FROM people WHERE id IN ($1, $2) ORDER BY id', [
            100 + pass,
            200 + pass,
          ]),
        ).toEqual([{ name: 'old row' }, { name: 'new row' }]);
      },
      async afterRollback(db) {
        expect(await constraintsOf(db.pool, 'people')).toContain('name_length');
        expect(
          await rows(db.pool, 'SELECT count(*)::int AS n FROM people WHERE id IN (101, 201)'),
        ).toEqual([{ n: 2 }]);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'people')).toEqual([
          'name_length_check',
          'people_email_key',
          'people_pkey',
        ]);
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM people')).toEqual([{ n: 24 }]);
      },
    });
  });

  it('renames a unique constraint and its index with it', async () => {
    await runCycle({
      setup: people,
      migration: `
operations:
  - rename_constraint:
      table: people
      from: people_email_key
      to: people_email_unique
`,
      async whileActive({ db, old, next }) {
        expect(await constraintsOf(db.pool, 'people')).toContain('people_email_unique');
        expect(await indexesOf(db.pool, 'people')).toEqual(['people_email_unique', 'people_pkey']);
        await expect(
          old.query(`INSERT INTO people VALUES (400, 'dupe', 'p1@example.com')`),
        ).rejects.toThrow(/people_email_unique/);
        await expect(
          next.query(`INSERT INTO people VALUES (400, 'dupe', 'p2@example.com')`),
        ).rejects.toThrow(/people_email_unique/);
      },
      async afterRollback(db) {
        expect(await indexesOf(db.pool, 'people')).toEqual(['people_email_key', 'people_pkey']);
      },
      async afterComplete(db) {
        expect(await constraintsOf(db.pool, 'people')).toEqual([
          'name_length',
          'people_email_unique',
          'people_pkey',
        ]);
        expect(await indexesOf(db.pool, 'people')).toEqual(['people_email_unique', 'people_pkey']);
      },
    });
  });

  it('follows renames earlier in the migration: a chain of renames and a renamed replica identity index', async () => {
    await runCycle({
      setup: [...people, 'ALTER TABLE people REPLICA IDENTITY USING INDEX people_pkey'],
      migration: `
operations:
  - rename_constraint:
      table: people
      from: people_pkey
      to: people_pk
  - rename_constraint:
      table: people
      from: people_pk
      to: people_primary
  - set_replica_identity:
      table: people
      identity:
        type: full
  - rename_constraint:
      table: people
      from: name_length
      to: people_pkey
`,
      async whileActive({ db }) {
        expect(await constraintsOf(db.pool, 'people')).toEqual([
          'people_email_key',
          'people_pkey',
          'people_primary',
        ]);
        expect(await replicaIdentity(db.pool, 'people')).toEqual({ identity: 'f', index: null });
      },
      async afterRollback(db) {
        // The identity went back to the primary key's index while it was still "people_primary".
        expect(await replicaIdentity(db.pool, 'people')).toEqual({
          identity: 'i',
          index: 'people_pkey',
        });
      },
      async afterComplete(db) {
        expect(await indexesOf(db.pool, 'people')).toEqual(['people_email_key', 'people_primary']);
        expect(await replicaIdentity(db.pool, 'people')).toEqual({ identity: 'f', index: null });
      },
    });
  });
});

/** pg_class.relreplident and the index pg_index.indisreplident marks. */
async function replicaIdentity(
  db: Queryable,
  table: string,
): Promise<{ identity: string; index: string | null }> {
  const { rows } = await db.query<{ identity: string; index: string | null }>(
    `SELECT c.relreplident AS identity,
            (SELECT i.indexrelid::regclass::text FROM pg_index i
              WHERE i.indrelid = c.oid AND i.indisreplident) AS index
       FROM pg_class c WHERE c.oid = $1::regclass`,
    [table],
  );
  return rows[0] as { identity: string; index: string | null };
}

describe('set_replica_identity', () => {
  const fruits = [
    'CREATE TABLE fruits (id int PRIMARY KEY, name text NOT NULL, size text)',
    'CREATE UNIQUE INDEX fruits_name_key ON fruits (name)',
    `INSERT INTO fruits SELECT g, 'fruit ' || g, 'small' FROM generate_series(1, 20) g`,
  ];
  const cases = [
    {
      title: 'default to a unique index',
      before: null,
      identity: 'type: index\n        index: fruits_name_key',
      expected: { identity: 'i', index: 'fruits_name_key' },
      was: { identity: 'd', index: null },
    },
    {
      title: 'an index to full',
      before: 'USING INDEX fruits_name_key',
      identity: 'type: full',
      expected: { identity: 'f', index: null },
      was: { identity: 'i', index: 'fruits_name_key' },
    },
    {
      title: 'full to nothing',
      before: 'FULL',
      identity: 'type: nothing',
      expected: { identity: 'n', index: null },
      was: { identity: 'f', index: null },
    },
    {
      title: 'nothing to default (type in capitals)',
      before: 'NOTHING',
      identity: 'type: DEFAULT',
      expected: { identity: 'd', index: null },
      was: { identity: 'n', index: null },
    },
    {
      title: 'the primary key index to another index',
      before: 'USING INDEX fruits_pkey',
      identity: 'type: Index\n        index: fruits_name_key',
      expected: { identity: 'i', index: 'fruits_name_key' },
      was: { identity: 'i', index: 'fruits_pkey' },
    },
  ];

  it.each(cases)('sets $title at start and restores it at rollback', async (c) => {
    await runCycle({
      setup: [...fruits, ...(c.before ? [`ALTER TABLE fruits REPLICA IDENTITY ${c.before}`] : [])],
      migration: `
operations:
  - set_replica_identity:
      table: fruits
      identity:
        ${c.identity}
`,
      async whileActive({ db, old, next, pass }) {
        expect(await replicaIdentity(db.pool, 'fruits')).toEqual(c.expected);
        await old.query(`INSERT INTO fruits VALUES ($1, $2, 'big')`, [100 + pass, `old ${pass}`]);
        await next.query(`UPDATE fruits SET size = 'medium' WHERE id = $1`, [100 + pass]);
        expect(await rows(old, 'SELECT size FROM fruits WHERE id = $1', [100 + pass])).toEqual([
          { size: 'medium' },
        ]);
      },
      async afterRollback(db) {
        // The catalog snapshot leaves replica identity out: compare it here.
        expect(await replicaIdentity(db.pool, 'fruits')).toEqual(c.was);
      },
      async afterComplete(db) {
        expect(await replicaIdentity(db.pool, 'fruits')).toEqual(c.expected);
        expect(await rows(db.pool, 'SELECT count(*)::int AS n FROM fruits')).toEqual([{ n: 22 }]);
      },
    });
  });

  it('sets the identity of a table created in the same migration', async () => {
    await runCycle({
      setup: [],
      migration: `
operations:
  - create_table:
      name: events
      columns:
        - name: id
          type: int
          pk: true
        - name: payload
          type: text
          nullable: true
  - set_replica_identity:
      table: events
      identity:
        type: full
`,
      async whileActive({ db, next }) {
        expect(await replicaIdentity(db.pool, 'events')).toEqual({ identity: 'f', index: null });
        await next.query(`INSERT INTO events VALUES (1, 'x')`);
      },
      async afterRollback(db) {
        expect(await rows(db.pool, `SELECT to_regclass('public.events') AS t`)).toEqual([
          { t: null },
        ]);
      },
      async afterComplete(db) {
        expect(await replicaIdentity(db.pool, 'events')).toEqual({ identity: 'f', index: null });
      },
    });
  });
});

describe('together with other operations', () => {
  it('a start that fails part way rolls back: renames back only what it renamed, restores the identity', async () => {
    const db = await createTestDatabase();
    try {
      for (const sql of [
        ...people,
        'CREATE TABLE fruits (id int PRIMARY KEY, name text NOT NULL, size text)',
        'CREATE INDEX fruits_name_idx ON fruits (name)',
      ]) {
        await db.query(sql);
      }
      const before = await snapshotCatalog(db.pool);
      // The index is created by the migration, so only the database can check it, at start:
      // the rename and the identity change ran, then the database refuses the index.
      const loaded = await migrationFromYaml(
        'm1',
        `operations:
  - rename_constraint: {table: people, from: people_email_key, to: people_email_unique}
  - set_replica_identity: {table: people, identity: {type: full}}
  - create_index: {table: fruits, name: fruits_size_idx, columns: [{column: size}]}
  - set_replica_identity: {table: fruits, identity: {type: index, index: fruits_size_idx}}
  - rename_constraint: {table: people, from: name_length, to: name_check}
`,
      );
      await expect(withTidal(db.url, (t) => t.start(loaded))).rejects.toThrow(
        /non-unique index "fruits_size_idx"[\s\S]*rolled back/,
      );
      expect(await snapshotCatalog(db.pool)).toEqual(before);
      expect(await replicaIdentity(db.pool, 'people')).toEqual({ identity: 'd', index: null });
      expect(await replicaIdentity(db.pool, 'fruits')).toEqual({ identity: 'd', index: null });
      expect((await withTidal(db.url, (t) => t.status())).active).toBeNull();
    } finally {
      await db.dispose();
    }
  });

  it('sets the identity to a unique index created earlier in the same migration', async () => {
    await runCycle({
      setup: ['CREATE TABLE fruits (id int PRIMARY KEY, name text NOT NULL)'],
      migration: `
operations:
  - create_index: {table: fruits, name: fruits_name_key, columns: [{column: name}], unique: true}
  - set_replica_identity: {table: fruits, identity: {type: index, index: fruits_name_key}}
`,
      async whileActive({ db }) {
        expect(await replicaIdentity(db.pool, 'fruits')).toEqual({
          identity: 'i',
          index: 'fruits_name_key',
        });
      },
      async afterRollback(db) {
        expect(await replicaIdentity(db.pool, 'fruits')).toEqual({ identity: 'd', index: null });
      },
      async afterComplete(db) {
        expect(await replicaIdentity(db.pool, 'fruits')).toEqual({
          identity: 'i',
          index: 'fruits_name_key',
        });
      },
    });
  });
});

describe('bad input', () => {
  let db: TestDatabase;
  let before: CatalogSnapshot;

  beforeAll(async () => {
    db = await createTestDatabase();
    for (const sql of [
      ...people,
      'CREATE TABLE fruits (id int PRIMARY KEY, name text NOT NULL, size text)',
      'CREATE INDEX fruits_name_idx ON fruits (name)',
      'CREATE UNIQUE INDEX fruits_size_key ON fruits (size)',
      'CREATE UNIQUE INDEX fruits_big_key ON fruits (name) WHERE size = $$big$$',
      'CREATE UNIQUE INDEX fruits_lower_key ON fruits (lower(name))',
      'ALTER TABLE fruits ADD CONSTRAINT fruits_name_deferred UNIQUE (name) DEFERRABLE',
      'CREATE SEQUENCE fruit_counter',
    ]) {
      await db.query(sql);
    }
    before = await snapshotCatalog(db.pool);
  });

  afterAll(async () => {
    await db?.dispose();
  });

  const cases: { title: string; yaml: string; expected: (string | RegExp)[] }[] = [
    {
      title: 'rename_constraint to a name another constraint of the table has',
      yaml: '- rename_constraint: {table: people, from: name_length, to: people_email_key}',
      expected: [
        'm1.yaml: operations[0].rename_constraint.to:',
        'constraint named "people_email_key" already exists on table "people"',
      ],
    },
    {
      title: 'rename_constraint of a constraint that does not exist',
      yaml: '- rename_constraint: {table: people, from: no_such_check, to: whatever}',
      expected: [
        'm1.yaml: operations[0].rename_constraint.from:',
        'constraint "no_such_check" does not exist on table "people"',
      ],
    },
    {
      title: 'rename_constraint on a table that does not exist',
      yaml: '- rename_constraint: {table: persons, from: name_length, to: whatever}',
      expected: ['m1.yaml: operations[0].rename_constraint.table:', '"persons" does not exist'],
    },
    {
      title: 'rename_constraint of a unique constraint to the name of an index',
      yaml: '- rename_constraint: {table: people, from: people_email_key, to: fruits_name_idx}',
      expected: [
        'm1.yaml: operations[0].rename_constraint.to:',
        'a table or index named "fruits_name_idx" already exists',
        'renames its index too',
      ],
    },
    {
      title: 'rename_constraint of a primary key to the name of a sequence',
      yaml: '- rename_constraint: {table: people, from: people_pkey, to: fruit_counter}',
      expected: ['m1.yaml: operations[0].rename_constraint.to:', '"fruit_counter" already exists'],
    },
    {
      title: 'rename_constraint of a name an earlier rename gave away',
      yaml: `- rename_constraint: {table: people, from: name_length, to: name_check}
  - rename_constraint: {table: people, from: name_length, to: other}`,
      expected: ['m1.yaml: operations[1].rename_constraint.from:', '"name_length" does not exist'],
    },
    {
      title: 'rename_constraint of a constraint the migration creates',
      yaml: `- create_table:
      name: pets
      columns:
        - {name: id, type: int, pk: true}
        - {name: name, type: text, check: {name: pet_name_length, constraint: length(name) > 1}}
  - rename_constraint: {table: pets, from: pet_name_length, to: pet_name_check}`,
      expected: [
        'm1.yaml: operations[1].rename_constraint.from:',
        'added by an earlier operation of this migration',
      ],
    },
    {
      title: 'set_replica_identity with an index that does not exist',
      yaml: '- set_replica_identity: {table: fruits, identity: {type: index, index: no_such_index}}',
      expected: [
        'm1.yaml: operations[0].set_replica_identity.identity.index:',
        'index "no_such_index" does not exist on table "fruits"',
      ],
    },
    {
      title: 'set_replica_identity with an index that is not unique',
      yaml: '- set_replica_identity: {table: fruits, identity: {type: index, index: fruits_name_idx}}',
      expected: [
        'm1.yaml: operations[0].set_replica_identity.identity.index:',
        'index "fruits_name_idx" is not unique',
      ],
    },
    {
      title: 'set_replica_identity with an index on a nullable column',
      yaml: '- set_replica_identity: {table: fruits, identity: {type: index, index: fruits_size_key}}',
      expected: [
        'm1.yaml: operations[0].set_replica_identity.identity.index:',
        'covers nullable column "size"',
      ],
    },
    {
      title: 'set_replica_identity with a partial index',
      yaml: '- set_replica_identity: {table: fruits, identity: {type: index, index: fruits_big_key}}',
      expected: ['operations[0].set_replica_identity.identity.index:', 'is partial'],
    },
    {
      title: 'set_replica_identity with an expression index',
      yaml: '- set_replica_identity: {table: fruits, identity: {type: index, index: fruits_lower_key}}',
      expected: ['operations[0].set_replica_identity.identity.index:', 'indexes an expression'],
    },
    {
      title: 'set_replica_identity with a deferrable constraint index',
      yaml: '- set_replica_identity: {table: fruits, identity: {type: index, index: fruits_name_deferred}}',
      expected: ['operations[0].set_replica_identity.identity.index:', 'is deferrable'],
    },
    {
      title: 'set_replica_identity with an index of another table',
      yaml: '- set_replica_identity: {table: fruits, identity: {type: index, index: people_pkey}}',
      expected: [
        'operations[0].set_replica_identity.identity.index:',
        'index "people_pkey" is on table "people", not "fruits"',
      ],
    },
    {
      title: 'set_replica_identity with an index an earlier operation drops',
      yaml: `- drop_index: {name: fruits_size_key}
  - set_replica_identity: {table: fruits, identity: {type: index, index: fruits_size_key}}`,
      expected: [
        'operations[1].set_replica_identity.identity.index:',
        'dropped by an earlier operation',
      ],
    },
    {
      title: 'set_replica_identity on a table that does not exist',
      yaml: '- set_replica_identity: {table: vegetables, identity: {type: full}}',
      expected: ['operations[0].set_replica_identity.table:', '"vegetables" does not exist'],
    },
  ];

  it.each(cases)('refuses $title before anything runs', async (c) => {
    const loaded = await migrationFromYaml('m1', `operations:\n  ${c.yaml}\n`);
    const error = await withTidal(db.url, (t) => t.start(loaded)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(InputError);
    expect((error as InputError).exitCode).toBe(2);
    for (const part of c.expected) {
      if (typeof part === 'string') expect((error as Error).message).toContain(part);
      else expect((error as Error).message).toMatch(part);
    }
    expect(await snapshotCatalog(db.pool)).toEqual(before);
    const status = await withTidal(db.url, (t) => t.status());
    expect(status.active).toBeNull();
    expect(await replicaIdentity(db.pool, 'fruits')).toEqual({ identity: 'd', index: null });
  });
});
