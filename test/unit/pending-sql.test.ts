/** What planning pending migrations takes from raw SQL, and the names PostgreSQL gives. */
import { beforeAll, describe, expect, it } from 'vitest';
import { parseMigrationText } from '../../src/migration/load.js';
import { initSqlParser } from '../../src/migration/sql-text.js';
import { defaultObjectName } from '../../src/model/names.js';
import { rawSqlFootprint } from '../../src/planner/raw-sql-footprint.js';

beforeAll(initSqlParser);

function footprint(sql: string, onComplete = false) {
  const yaml = `operations:\n  - sql:\n      up: ${JSON.stringify(sql)}\n${onComplete ? '      onComplete: true\n' : ''}`;
  return rawSqlFootprint(parseMigrationText(yaml, '05_sql.yaml', 'yaml'), '05_sql.yaml');
}

describe('rawSqlFootprint', () => {
  it('keeps definitions of new types, functions and tables that lock no existing table', () => {
    const sql = [
      `CREATE TYPE mood AS ENUM ('ok')`,
      'CREATE DOMAIN positive AS int CHECK (VALUE > 0)',
      'CREATE FUNCTION twice(int) RETURNS int LANGUAGE sql AS $$ SELECT $1 * 2 $$',
      'CREATE TABLE users (id int PRIMARY KEY, name text UNIQUE)',
      'CREATE EXTENSION IF NOT EXISTS pgcrypto',
    ];
    expect(footprint(sql.join(';\n'))).toEqual({ followed: true, definitions: sql, additions: [] });
  });

  it('follows plain ADD COLUMN of a table named without its schema', () => {
    expect(
      footprint('ALTER TABLE people ADD COLUMN born date NOT NULL DEFAULT now()', true),
    ).toEqual({
      followed: true,
      definitions: [],
      additions: [
        {
          table: 'people',
          statement: 'ALTER TABLE people ADD COLUMN born date NOT NULL DEFAULT now()',
          where: '05_sql.yaml: operations[0].sql',
        },
      ],
    });
  });

  it('leaves out what can only make later operations fail', () => {
    const sql = `CREATE VIEW v AS SELECT 1; COMMENT ON TABLE people IS 'x'; GRANT SELECT ON people TO PUBLIC; UPDATE people SET name = 'x'`;
    expect(footprint(sql)).toEqual({ followed: true, definitions: [], additions: [] });
  });

  it.each([
    'ALTER TABLE people RENAME COLUMN name TO full_name',
    'ALTER TABLE public.people ADD COLUMN born date',
    'ALTER TABLE people ADD COLUMN code text UNIQUE',
    'ALTER TABLE people ADD COLUMN team int REFERENCES teams (id)',
    'CREATE TABLE pets (owner int REFERENCES people (id))',
    'CREATE TABLE pets (LIKE people)',
    'CREATE OR REPLACE VIEW v AS SELECT 2',
    'DROP TABLE people',
    'CREATE INDEX people_name_idx ON people (name)',
    'DO $$ BEGIN EXECUTE $q$ALTER TABLE people DROP COLUMN name$q$; END $$',
    'SELECT make_changes()',
  ])('cannot follow %s', (sql) => {
    expect(footprint(sql)).toEqual({
      followed: false,
      where: '05_sql.yaml: operations[0].sql',
      statement: sql,
    });
  });
});

describe('defaultObjectName', () => {
  const table = 'a_rather_long_table_name_for_customer_loyalty_programmes';
  const none = () => false;

  it('cuts the longer of table and column first to fit 63 bytes, as PostgreSQL does', () => {
    // As PostgreSQL 15 named them for CREATE TABLE ... (id int PRIMARY KEY, <column> text UNIQUE).
    expect(defaultObjectName(table, undefined, 'pkey', none)).toBe(`${table}_pkey`);
    expect(defaultObjectName(table, 'x', 'key', none)).toBe(`${table}_x_key`);
    expect(defaultObjectName(table, 'membership_reference_code_for_partners', 'key', none)).toBe(
      'a_rather_long_table_name_for__membership_reference_code_for_key',
    );
  });

  it('numbers the label while the name is taken', () => {
    const taken = new Set(['items_sku_key', 'items_sku_key1']);
    expect(defaultObjectName('items', 'sku', 'key', (n) => taken.has(n))).toBe('items_sku_key2');
  });
});
