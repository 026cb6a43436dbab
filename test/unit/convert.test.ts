/** `tidal convert`: which statements become which operations, what merges, what stays SQL, and
 *  what is left for the user to write. */
import { beforeAll, describe, expect, it } from 'vitest';
import { convertSql } from '../../src/convert/convert.js';
import { InputError } from '../../src/errors.js';
import { parseMigrationText } from '../../src/migration/load.js';
import { initSqlParser } from '../../src/migration/sql-text.js';

beforeAll(() => initSqlParser());

const convert = (text: string) => convertSql([{ file: 'm.sql', text }]);
const operations = (text: string) => convert(text).operations;

describe('tidal convert', () => {
  it("drizzle-kit's rename, NOT NULL column and widening: three operations, two fields left to write", () => {
    const result = convert(
      [
        'ALTER TABLE "users" RENAME COLUMN "name" TO "display_name";--> statement-breakpoint',
        'ALTER TABLE "users" ADD COLUMN "email_lower" text NOT NULL;--> statement-breakpoint',
        'ALTER TABLE "users" ALTER COLUMN "score" SET DATA TYPE bigint;',
      ].join('\n'),
    );
    expect(result.operations).toEqual([
      { rename_column: { table: 'users', from: 'name', to: 'display_name' } },
      {
        add_column: {
          table: 'users',
          column: { name: 'email_lower', type: 'text', nullable: false },
          up: 'TODO(tidal): the value of email_lower for the rows already in users',
        },
      },
      {
        alter_column: {
          table: 'users',
          column: 'score',
          type: 'bigint',
          up: 'CAST(score AS bigint)',
          down: 'TODO(tidal): score in the old type from the new one, e.g. CAST(score AS <the type before>)',
        },
      },
    ]);
    expect(result.unwritten.map((u) => u.path)).toEqual([
      'operations[1].add_column.up',
      'operations[2].alter_column.down',
    ]);
    expect(result.notes).toEqual([]);
    // The file is refused at those fields until they are written, then loads.
    expect(() => parseMigrationText(result.yaml, 'm.yaml', 'yaml')).toThrow(
      /operations\[1\]\.add_column\.up: left for you to write: .*\n.*operations\[2\]\.alter_column\.down: left for you to write/,
    );
    const written = result.yaml
      .replace(/up: "TODO[^\n]*/, 'up: lower(email)')
      .replace(/down: "TODO[^\n]*/, 'down: CAST(score AS integer)');
    expect(parseMigrationText(written, 'm.yaml', 'yaml').operations).toHaveLength(3);
    expect(result.yaml.split('\n')[0]).toBe('# Converted by tidal convert from m.sql.');
  });

  it('ADD COLUMN, the UPDATE that fills it and SET NOT NULL become one add_column with up', () => {
    expect(
      operations(`ALTER TABLE users ADD COLUMN email_lower text;
                  UPDATE users SET email_lower = lower(email);
                  ALTER TABLE users ALTER COLUMN email_lower SET NOT NULL;`),
    ).toEqual([
      {
        add_column: {
          table: 'users',
          column: { name: 'email_lower', type: 'text', nullable: false },
          up: 'lower(email)',
        },
      },
    ]);
  });

  it('a type change and a rename of one column, in either order, become one alter_column', () => {
    // up reads the old version's columns, down the new version's, whatever the order.
    const expected = [
      {
        alter_column: {
          table: 't',
          column: 'n',
          name: 'amount',
          type: 'numeric(12, 2)',
          up: 'CAST(n AS numeric(12, 2))',
          down: expect.stringMatching(/^TODO\(tidal\): n in the old type/),
        },
      },
    ];
    expect(
      operations(`ALTER TABLE t ALTER COLUMN n TYPE numeric(12,2) USING n::numeric(12,2);
                  ALTER TABLE t RENAME COLUMN n TO amount;`),
    ).toEqual(expected);
    expect(
      operations(`ALTER TABLE t RENAME COLUMN n TO amount;
                  ALTER TABLE t ALTER COLUMN amount TYPE numeric(12,2) USING amount::numeric(12,2);`),
    ).toMatchObject([
      {
        alter_column: {
          column: 'n',
          name: 'amount',
          type: 'numeric(12, 2)',
          up: 'CAST(n AS numeric(12, 2))',
        },
      },
    ]);
    expect(
      operations(`ALTER TABLE t ALTER COLUMN n DROP NOT NULL;
                  ALTER TABLE t RENAME COLUMN n TO amount;`),
    ).toMatchObject([{ alter_column: { column: 'n', name: 'amount', nullable: true, up: 'n' } }]);
    expect(
      operations(`UPDATE t SET n = 0 WHERE n IS NULL;
                  ALTER TABLE t ALTER COLUMN n SET NOT NULL;
                  ALTER TABLE t RENAME COLUMN n TO amount;`),
    ).toMatchObject([
      { alter_column: { column: 'n', name: 'amount', up: 'COALESCE(n, 0)', down: 'amount' } },
    ]);
  });

  it('SET NOT NULL after an UPDATE of the NULL rows: alter_column whose up fills them', () => {
    expect(
      operations(`UPDATE users SET status = 'new' WHERE status IS NULL;
                  ALTER TABLE users ALTER COLUMN status SET NOT NULL, ALTER COLUMN status SET DEFAULT 'new';`),
    ).toEqual([
      {
        alter_column: {
          table: 'users',
          column: 'status',
          nullable: false,
          up: "coalesce(status, 'new')",
          down: 'status',
          default: "'new'",
        },
      },
    ]);
    // Without one, the value for the NULL rows is left to write; DROP NOT NULL asks for down.
    expect(
      operations(`ALTER TABLE users ALTER COLUMN status SET NOT NULL;
                  ALTER TABLE users ALTER COLUMN nick DROP NOT NULL;`),
    ).toMatchObject([
      {
        alter_column: {
          column: 'status',
          up: expect.stringMatching(/^TODO\(tidal\): status for the rows where it is NULL/),
        },
      },
      {
        alter_column: {
          column: 'nick',
          nullable: true,
          up: 'nick',
          down: expect.stringMatching(/^TODO\(tidal\)/),
        },
      },
    ]);
  });

  it('a table and the foreign keys, checks and indexes Drizzle adds to it after', () => {
    expect(
      operations(`CREATE TABLE "posts" (
                    "id" serial PRIMARY KEY NOT NULL,
                    "user_id" integer NOT NULL,
                    "title" varchar(200) DEFAULT 'untitled',
                    "body" text CHECK (length(body) < 10000),
                    "created_at" timestamp with time zone DEFAULT now() NOT NULL
                  );
                  ALTER TABLE "posts" ADD CONSTRAINT "posts_user_id_users_id_fk" FOREIGN KEY ("user_id") REFERENCES "public"."users"("id") ON DELETE cascade ON UPDATE no action;
                  CREATE INDEX IF NOT EXISTS "posts_recent" ON "posts" USING btree ("created_at" DESC) WHERE "title" IS NOT NULL;
                  CREATE UNIQUE INDEX "posts_title" ON "posts" ("title");`),
    ).toEqual([
      {
        create_table: {
          name: 'posts',
          columns: [
            {
              name: 'id',
              type: 'integer',
              nullable: false,
              pk: true,
              generated: { identity: { user_specified_values: 'BY DEFAULT' } },
            },
            { name: 'user_id', type: 'integer', nullable: false },
            { name: 'title', type: 'varchar(200)', nullable: true, default: "'untitled'" },
            {
              name: 'body',
              type: 'text',
              nullable: true,
              check: { name: 'posts_body_check', constraint: 'length(body) < 10000' },
            },
            { name: 'created_at', type: 'timestamptz', nullable: false, default: 'now()' },
          ],
          constraints: [
            {
              name: 'posts_user_id_users_id_fk',
              type: 'foreign_key',
              columns: ['user_id'],
              references: { table: 'users', columns: ['id'], on_delete: 'CASCADE' },
            },
          ],
        },
      },
      {
        create_index: {
          name: 'posts_recent',
          table: 'posts',
          columns: [{ column: 'created_at', sort: 'DESC' }],
          predicate: 'title IS NOT NULL',
        },
      },
      {
        create_index: {
          name: 'posts_title',
          table: 'posts',
          columns: [{ column: 'title' }],
          unique: true,
        },
      },
    ]);
  });

  it('constraints added to an existing table: create_constraint, with the rows that break them left to write', () => {
    expect(
      operations(`ALTER TABLE orders ADD CONSTRAINT orders_user_fk FOREIGN KEY (user_id) REFERENCES users (id) NOT VALID;
                  ALTER TABLE orders VALIDATE CONSTRAINT orders_user_fk;
                  ALTER TABLE orders ADD CONSTRAINT orders_qty_positive CHECK (qty > 0);`),
    ).toEqual([
      {
        create_constraint: {
          table: 'orders',
          name: 'orders_user_fk',
          type: 'foreign_key',
          columns: ['user_id'],
          references: { table: 'users', columns: ['id'] },
          up: {
            user_id: expect.stringMatching(
              /^TODO\(tidal\): user_id for the rows whose reference is missing/,
            ),
          },
          down: { user_id: 'user_id' },
        },
      },
      {
        create_constraint: {
          table: 'orders',
          name: 'orders_qty_positive',
          type: 'check',
          check: 'qty > 0',
          columns: ['qty'],
          up: {
            qty: expect.stringMatching(/^TODO\(tidal\): qty for the rows that break the check/),
          },
          down: { qty: 'qty' },
        },
      },
    ]);
  });

  it('renames, drops and what has no operation: sql operations, each said with its line', () => {
    const result = convert(`BEGIN;
SET lock_timeout = '5s';
CREATE TYPE mood AS ENUM ('happy', 'sad');
ALTER TABLE users RENAME TO members;
ALTER TABLE members RENAME CONSTRAINT users_pkey TO members_pkey;
ALTER TABLE members ADD COLUMN mood mood, SET (fillfactor = 70);
DROP INDEX users_email;
DROP TABLE legacy, old_legacy;
DROP TABLE audit CASCADE;
ALTER TABLE members DROP COLUMN nickname;
CREATE INDEX members_lower_email ON members (lower(email));
UPDATE members SET score = 0 WHERE score < 0;
COMMIT;`);
    expect(result.operations).toEqual([
      { sql: { up: "CREATE TYPE mood AS ENUM ('happy', 'sad')" } },
      { rename_table: { from: 'users', to: 'members' } },
      { rename_constraint: { table: 'members', from: 'users_pkey', to: 'members_pkey' } },
      { add_column: { table: 'members', column: { name: 'mood', type: 'mood', nullable: true } } },
      { sql: { up: 'ALTER TABLE members SET (fillfactor = 70)' } },
      { drop_index: { name: 'users_email' } },
      { drop_table: { name: 'legacy' } },
      { drop_table: { name: 'old_legacy' } },
      { sql: { up: 'DROP TABLE audit CASCADE' } },
      { drop_column: { table: 'members', column: 'nickname' } },
      { sql: { up: 'CREATE INDEX members_lower_email ON members (lower(email))' } },
      { sql: { up: 'UPDATE members SET score = 0 WHERE score < 0' } },
    ]);
    expect(result.notes.map((n) => `${n.line}: ${n.message}`)).toEqual([
      '1: left out: tidal runs each step in a transaction of its own',
      '2: left out: tidal sets its own lock_timeout for each step (--lock-timeout)',
      '3: kept as a sql operation: no tidal operation does this',
      '6: kept as a sql operation: no tidal operation does part of this',
      '9: kept as a sql operation: CASCADE drops what depends on it, which tidal leaves to you',
      '11: kept as a sql operation: an index create_index cannot describe (expressions, INCLUDE or options)',
      '12: kept as a sql operation: a data change tidal does not tie to a column it adds or alters',
      '13: left out: tidal runs each step in a transaction of its own',
    ]);
    expect(() => parseMigrationText(result.yaml, 'm.yaml', 'yaml')).not.toThrow();
  });

  it('several files are one migration, in order; a syntax error names its file and line', () => {
    const result = convertSql([
      { file: 'a.sql', text: 'ALTER TABLE t ADD COLUMN c int;' },
      { file: 'b.sql', text: 'UPDATE t SET c = n + 1;' },
    ]);
    expect(result.operations).toEqual([
      {
        add_column: {
          table: 't',
          column: { name: 'c', type: 'integer', nullable: true },
          up: 'n + 1',
        },
      },
    ]);
    expect(result.yaml.split('\n')[0]).toBe('# Converted by tidal convert from a.sql, b.sql.');
    const bad = () =>
      convertSql([{ file: 'bad.sql', text: 'SELECT 1;\nALTER TABLE t ADD COLUMN;' }]);
    expect(bad).toThrow(InputError);
    expect(bad).toThrow(/^bad\.sql: syntax error at or near ";" \(line 2, column 25\)/);
  });

  it('says that a column dropped and one added by the same ALTER TABLE may be a rename, as Prisma Migrate writes one', () => {
    const result = convert(
      'ALTER TABLE "users" DROP COLUMN "name",\nADD COLUMN     "display_name" TEXT NOT NULL;\nALTER TABLE "orders" DROP COLUMN "note";',
    );
    expect(result.notes).toEqual([
      {
        file: 'm.sql',
        line: 1,
        message:
          'drops column "name" of "users" and adds "display_name": if that is a rename (Prisma Migrate writes renames as a drop and an add), replace both with a rename_column; otherwise the added column\'s `up` decides what the rows already there get, and a `down` on the drop_column gives the old version a value for rows the new version writes',
      },
    ]);
  });
});
