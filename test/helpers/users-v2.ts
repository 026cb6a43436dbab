/**
 * The change the convert tests make from each tool's SQL (rename `name` to `display_name`, add
 * `email_lower`, widen `score` to bigint), checked as a rolling deploy sees it: the old release
 * and the new one write at once, and each reads what the other wrote.
 */
import { expect } from 'vitest';
import { versionClient } from './tidal.js';

/** The version schema of the converted migration `users_v2`. */
export const USERS_V2_SCHEMA = 'public_users_v2';

/** Writes through both versions of a started `users_v2` on a table of 500 seeded users (ids
 *  1..500), and checks what each reads. */
export async function expectUsersThroughBothVersions(url: string): Promise<void> {
  const old = await versionClient(url, null);
  const next = await versionClient(url, USERS_V2_SCHEMA);
  try {
    await old.query(`INSERT INTO users (name, email, score) VALUES ('old', 'Old@Example.com', 7)`);
    await next.query(
      `INSERT INTO users (display_name, email, email_lower, score) VALUES ('new', 'New@Example.com', 'new@example.com', 8)`,
    );
    const { rows: seen } = await next.query(
      `SELECT display_name, email_lower, score FROM users WHERE id IN (1, 501, 502) ORDER BY id`,
    );
    expect(seen).toEqual([
      { display_name: 'user 1', email_lower: 'user1@example.com', score: '1' },
      { display_name: 'old', email_lower: 'old@example.com', score: '7' },
      { display_name: 'new', email_lower: 'new@example.com', score: '8' },
    ]);
    const { rows: oldSeen } = await old.query(`SELECT name, score FROM users WHERE id = 502`);
    expect(oldSeen).toEqual([{ name: 'new', score: 8 }]);
  } finally {
    await old.end();
    await next.end();
  }
}

/** The table the tools' SQL changes, with 500 users in it (ids 1..500). */
export async function seedUsers(db: { query(sql: string): Promise<unknown> }): Promise<void> {
  await db.query('CREATE TABLE users (id serial PRIMARY KEY, name text, email text, score int)');
  await db.query(
    `INSERT INTO users (name, email, score) SELECT 'user ' || g, 'User' || g || '@Example.com', g FROM generate_series(1, 500) g`,
  );
}
