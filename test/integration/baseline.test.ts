/**
 * `tidal baseline`: a database whose schema another tool made is adopted without running
 * anything; migrate and validate take the history up to the baseline as applied and start after
 * it; the base version stays live for releases until a migration after the baseline completes.
 */
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { assertVersionLive, tidalVersion } from '../../src/client/index.js';
import { createTestDatabase } from '../helpers/db.js';
import { runCli } from '../helpers/tidal.js';

describe('tidal baseline', () => {
  it('adopts the schema as it is; migrate starts after it; the base version stays live until then', async () => {
    const db = await createTestDatabase();
    try {
      // What the other tool made, and its history as tidal files (the first would fail if run:
      // the table exists).
      await db.query('CREATE TABLE users (id int PRIMARY KEY, name text, email text)');
      await db.query(
        `INSERT INTO users SELECT g, 'u' || g, 'U' || g || '@x' FROM generate_series(1, 200) g`,
      );
      const dir = await mkdtemp(join(tmpdir(), 'tidal-baseline-'));
      await writeFile(
        join(dir, '0001_init.yaml'),
        'operations:\n  - create_table: {name: users, columns: [{name: id, type: int, pk: true}, {name: name, type: text, nullable: true}]}\n',
      );
      await writeFile(
        join(dir, '0002_email.yaml'),
        'operations:\n  - add_column: {table: users, column: {name: email, type: text, nullable: true}}\n',
      );
      await writeFile(
        join(dir, '0003_email_lower.yaml'),
        'operations:\n  - add_column: {table: users, up: lower(email), column: {name: email_lower, type: text, nullable: false}}\n',
      );

      const adopted = await runCli(['baseline', '0002_email', '--url', db.url]);
      expect(adopted.code, adopted.stderr).toBe(0);
      expect(adopted.stdout).toContain('adopted as baseline "0002_email": nothing ran');
      // Nothing ran: the table is as the other tool left it.
      const { rows: columns } = await db.query(
        `SELECT string_agg(column_name, ',' ORDER BY ordinal_position) AS names FROM information_schema.columns WHERE table_name = 'users'`,
      );
      expect(columns).toEqual([{ names: 'id,name,email' }]);
      // A release on the base version is live: the baseline made no version.
      await expect(assertVersionLive(db.pool, tidalVersion('public'))).resolves.toBeUndefined();
      const status = await runCli(['status', '--url', db.url]);
      expect(status.stdout).toMatch(
        /applied: no migration file completed yet; none active\nbaseline: 0002_email \(adopted .*; the files up to it were applied before tidal\)/,
      );
      // Once only.
      const again = await runCli(['baseline', '0003_email_lower', '--url', db.url]);
      expect(again.code).toBe(1);
      expect(again.stderr).toContain('already has the baseline "0002_email"');

      const validated = await runCli(['validate', dir, '--url', db.url]);
      expect(validated.stdout.trim()).toBe(
        '3 file(s) checked offline: valid; against the database: 2 up to the baseline, 0 applied and unchanged, 1 planned',
      );
      const migrated = await runCli(['migrate', dir, '--url', db.url]);
      expect(migrated.code, migrated.stderr).toBe(0);
      // Both versions live while the one after the baseline is active.
      await expect(assertVersionLive(db.pool, tidalVersion('public'))).resolves.toBeUndefined();
      await expect(
        assertVersionLive(db.pool, tidalVersion('0003_email_lower')),
      ).resolves.toBeUndefined();
      const completed = await runCli(['complete', '--url', db.url]);
      expect(completed.code, completed.stderr).toBe(0);
      const { rows } = await db.query(
        `SELECT count(*)::int AS n, count(*) FILTER (WHERE email_lower = lower(email))::int AS filled,
                to_regnamespace('public') IS NOT NULL AS public_kept FROM users`,
      );
      expect(rows).toEqual([{ n: 200, filled: 200, public_kept: true }]);
      // Now the base version was contracted, by the migration after the baseline.
      await expect(assertVersionLive(db.pool, tidalVersion('public'))).rejects.toThrow(
        /contracted when "0003_email_lower" completed/,
      );
      // A baseline is refused where tidal has history.
      const other = await createTestDatabase();
      try {
        await other.query('CREATE TABLE t (id int PRIMARY KEY)');
        await writeFile(
          join(dir, '0004_t.yaml'),
          'operations:\n  - add_column: {table: t, column: {name: n, type: int, nullable: true}}\n',
        );
        expect((await runCli(['start', join(dir, '0004_t.yaml'), '--url', other.url])).code).toBe(
          0,
        );
        const refused = await runCli(['baseline', '0002_email', '--url', other.url]);
        expect(refused.code).toBe(1);
        expect(refused.stderr).toContain('already has tidal migrations');
      } finally {
        await other.dispose();
      }
    } finally {
      await db.dispose();
    }
  }, 90_000);
});
