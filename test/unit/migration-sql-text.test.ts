import { beforeAll, describe, expect, test } from 'vitest';
import { InputError } from '../../src/errors.js';
import {
  checkExpression,
  checkStorageParameters,
  checkTypeName,
  initSqlParser,
  splitStatements,
  statementNeedsNoTransaction,
} from '../../src/migration/sql-text.js';

// Runs first: this file's worker has not loaded the parser yet.
test('using the parser before initSqlParser() fails clearly', () => {
  expect(() => checkExpression('1')).toThrow(/await initSqlParser\(\)/);
});

describe('with the parser loaded', () => {
  beforeAll(async () => {
    await initSqlParser();
    await initSqlParser(); // idempotent
  });

  describe('splitStatements', () => {
    test('semicolons in dollar-quoted bodies, comments and strings do not split', () => {
      const sql = [
        '-- a comment; with a semicolon',
        "CREATE FUNCTION f() RETURNS text AS $$ SELECT 'a;b'; $$ LANGUAGE sql;",
        '/* block; comment */ INSERT INTO t VALUES (\'x;y\', "we;ird");',
        'DO $body$ BEGIN PERFORM 1; END $body$',
      ].join('\n');
      expect(splitStatements(sql)).toEqual([
        "CREATE FUNCTION f() RETURNS text AS $$ SELECT 'a;b'; $$ LANGUAGE sql",
        // Comments before a statement are not part of it.
        'INSERT INTO t VALUES (\'x;y\', "we;ird")',
        'DO $body$ BEGIN PERFORM 1; END $body$',
      ]);
    });

    test('offsets are bytes: multibyte characters before later statements', () => {
      const sql =
        "INSERT INTO t VALUES ('héllo wörld 日本語 😀');\nSELECT 'ünïcode';\n  UPDATE t SET a = 1";
      expect(splitStatements(sql)).toEqual([
        "INSERT INTO t VALUES ('héllo wörld 日本語 😀')",
        "SELECT 'ünïcode'",
        'UPDATE t SET a = 1',
      ]);
    });

    test('empty statements and trailing comments are dropped', () => {
      expect(splitStatements(';; SELECT 1;;\n-- done\n')).toEqual(['SELECT 1']);
      expect(splitStatements('   ')).toEqual([]);
      expect(splitStatements('-- only a comment')).toEqual([]);
    });

    test('a syntax error is an InputError naming line and column', () => {
      let error: unknown;
      try {
        splitStatements("SELECT 'é';\nSELECT * FROM;\n");
      } catch (thrown) {
        error = thrown;
      }
      expect(error).toBeInstanceOf(InputError);
      expect((error as Error).message).toBe('syntax error at or near ";" (line 2, column 14)');
      expect(() => splitStatements('SELECT 1 +')).toThrow('syntax error at end of input');
      expect(() => splitStatements('SELECT 1;\0DROP TABLE t')).toThrow('contains a NUL character');
    });
  });

  describe('checkExpression', () => {
    test.each([
      'UPPER(name)',
      "name || '-category'",
      "'''quoted'''",
      '(random() * 1000)::int',
      'now()',
      "SELECT CASE WHEN review IS NULL THEN product || ' is good' ELSE review END",
      'SELECT CASE WHEN EXISTS (SELECT 1 FROM users WHERE users.id = user_id) THEN user_id ELSE NULL END',
      "')' || '('",
      'x -- a trailing comment',
      'CASE\n  WHEN a > 1 THEN 2\n  ELSE 3\nEND',
    ])('accepts %s', (expr) => {
      expect(checkExpression(expr)).toBeUndefined();
    });

    test('reports the parser message with a position inside the expression', () => {
      expect(checkExpression('a + * 2')).toBe('syntax error at or near "*" (position 5)');
      expect(checkExpression('é + * 2')).toBe('syntax error at or near "*" (position 5)');
      expect(checkExpression('CASE\n  WHEN a THEN\nEND')).toBe(
        'syntax error at or near "END" (line 3, column 1)',
      );
      expect(checkExpression('a +')).toBe('syntax error at end of input');
      expect(checkExpression("'unterminated")).toMatch(/^unterminated quoted string/);
      expect(checkExpression('  ')).toBe('is empty');
    });

    test('rejects a smuggled second statement or an escape from the parentheses', () => {
      expect(checkExpression('1); DROP TABLE x; SELECT (1')).toBe(
        'has a ")" without a matching "(" (position 2)',
      );
      expect(checkExpression('1) UNION SELECT (2')).toBe(
        'has a ")" without a matching "(" (position 2)',
      );
      expect(checkExpression('1) FROM pg_sleep(10) WHERE (true')).toMatch(/^has a "\)" without/);
      expect(checkExpression('1; DROP TABLE x')).toBe(
        'has a ";", which would end the statement (position 2)',
      );
      expect(checkExpression('(1')).toBe('has a "(" without a matching ")"');
      expect(checkExpression('1\0); DROP TABLE x; --')).toBe('contains a NUL character');
    });
  });

  test('checkTypeName', () => {
    for (const type of [
      'integer',
      'varchar(255)',
      'time with time zone',
      'decimal(10,2)',
      'int[]',
      'fruit_size',
      'public.t',
    ]) {
      expect(checkTypeName(type), type).toBeUndefined();
    }
    expect(checkTypeName('int primary key')).toBe('syntax error at or near "primary" (position 5)');
    expect(checkTypeName('int) ; DROP TABLE x; --')).toMatch(/^has a "\)" without a matching "\("/);
  });

  test('checkStorageParameters', () => {
    expect(checkStorageParameters('fillfactor = 70')).toBeUndefined();
    expect(checkStorageParameters('fillfactor = 70, deduplicate_items = off')).toBeUndefined();
    expect(checkStorageParameters('fillfactor =')).toBe('syntax error at end of input');
  });

  test('statementNeedsNoTransaction', () => {
    for (const statement of [
      'CREATE INDEX CONCURRENTLY i ON t (a)',
      'DROP INDEX CONCURRENTLY i',
      'REINDEX INDEX CONCURRENTLY i',
      'VACUUM t',
      'ALTER TABLE t DETACH PARTITION p CONCURRENTLY',
      "ALTER TYPE e ADD VALUE 'x'",
    ]) {
      expect(statementNeedsNoTransaction(statement), statement).toBe(true);
    }
    for (const statement of [
      'CREATE INDEX i ON t (a)',
      'ANALYZE t',
      'ALTER TABLE t ADD COLUMN a int',
      'SELECT 1',
    ]) {
      expect(statementNeedsNoTransaction(statement), statement).toBe(false);
    }
  });
});
