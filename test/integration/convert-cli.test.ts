/**
 * `tidal convert` from the command line, on drizzle-kit's real output: the SQL its generator
 * writes for "rename name to display_name, add a NOT NULL email_lower, widen score to bigint"
 * (its rename question answered on a terminal) becomes a tidal migration that tidal refuses
 * until what the SQL does not say is written, then runs on a database with rows, through both
 * versions at once.
 */
import { mkdtemp, readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createTestDatabase } from '../helpers/db.js';
import { drizzleKitSql } from '../helpers/drizzle-kit.js';
import { runCli } from '../helpers/tidal.js';
import { expectUsersThroughBothVersions, seedUsers } from '../helpers/users-v2.js';

const SCHEMAS = fileURLToPath(new URL('../fixtures/drizzle-kit/', import.meta.url));

describe('tidal convert', () => {
  it('writes a migration that is refused until its placeholders are written, then runs through both versions', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tidal-convert-'));
    const sql = join(dir, '0001_users.sql');
    const file = join(dir, 'users_v2.yaml');
    const statements = await drizzleKitSql(
      join(SCHEMAS, 'users-v1.mjs'),
      join(SCHEMAS, 'users-v2.mjs'),
    );
    expect(statements).toEqual([
      'ALTER TABLE "users" RENAME COLUMN "name" TO "display_name";',
      'ALTER TABLE "users" ALTER COLUMN "score" SET DATA TYPE bigint;',
      'ALTER TABLE "users" ADD COLUMN "email_lower" text NOT NULL;',
    ]);
    // As `drizzle-kit generate` writes the file: statements between breakpoints.
    await writeFile(sql, statements.join('\n--> statement-breakpoint\n'));
    const converted = await runCli(['convert', sql, '-o', file]);
    expect(converted.code).toBe(0);
    expect(converted.stderr).toContain(
      `${file}: operations[1].alter_column.down: left for you to write: score in the old type from the new one`,
    );
    expect(converted.stderr).toContain(
      `${file}: operations[2].add_column.up: left for you to write: the value of email_lower for the rows already in users`,
    );
    expect(converted.stderr).toMatch(
      /wrote .*users_v2\.yaml: 3 operation\(s\), 0 of them sql; 2 field\(s\) left for you to write/,
    );
    // An existing file is not written over.
    expect((await runCli(['convert', sql, '-o', file])).code).toBe(2);

    const db = await createTestDatabase();
    try {
      await seedUsers(db);
      const refused = await runCli(['start', file, '--url', db.url]);
      expect(refused.code).toBe(2);
      expect(refused.stderr).toMatch(/operations\[1\]\.alter_column\.down: left for you to write/);
      const { rows: state } = await db.query(
        `SELECT to_regnamespace('tidal') IS NULL AS untouched`,
      );
      expect(state).toEqual([{ untouched: true }]);

      const written = (await readFile(file, 'utf8'))
        .replace(/down: "TODO\(tidal\)[^\n]*/, 'down: CAST(score AS integer)')
        .replace(/up: "TODO\(tidal\)[^\n]*/, 'up: lower(email)');
      await writeFile(file, written);
      const started = await runCli(['start', file, '--url', db.url]);
      expect(started.code, started.stderr).toBe(0);

      await expectUsersThroughBothVersions(db.url);
      const completed = await runCli(['complete', '--url', db.url]);
      expect(completed.code).toBe(0);
      const { rows } = await db.query(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE email_lower = lower(email))::int AS right_lower,
                pg_typeof(min(score))::text AS score_type
           FROM users`,
      );
      expect(rows).toEqual([{ n: 502, right_lower: 502, score_type: 'bigint' }]);
    } finally {
      await db.dispose();
    }
  }, 60_000);
});
