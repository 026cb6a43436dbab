/**
 * The full cycle every operation is tested through: seed rows, start, write through the old and
 * the new version, roll back and find the catalog exactly as before, start again, complete, and
 * check the final catalog and rows.
 */
import type pg from 'pg';
import { expect } from 'vitest';
import { snapshotCatalog } from './catalog.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { migrationFromYaml, versionClient, withTidal } from './tidal.js';

export interface Versions {
  db: TestDatabase;
  /** A session of the old version (search_path `public`: no migration ran before). */
  old: pg.Client;
  /** A session of the new version (search_path `<version schema>, public`). */
  next: pg.Client;
  /** Which pass: 1 before rollback, 2 after starting again. */
  pass: 1 | 2;
}

export interface CycleCase {
  /** Tables and rows before the migration (run in `public`). */
  setup: string[];
  /** The migration, as YAML; its name is `name`. */
  migration: string;
  name?: string;
  /** Writes through both versions and checks what each reads; runs after each start. */
  whileActive?: (v: Versions) => Promise<void>;
  /** Checks after rollback beyond the catalog (rows written through either version survive). */
  afterRollback?: (db: TestDatabase) => Promise<void>;
  /** Checks of the final catalog and rows. */
  afterComplete?: (db: TestDatabase) => Promise<void>;
}

export async function runCycle(c: CycleCase): Promise<void> {
  const db = await createTestDatabase();
  const name = c.name ?? 'm1';
  try {
    for (const sql of c.setup) await db.query(sql);
    const before = await snapshotCatalog(db.pool);
    const loaded = await migrationFromYaml(name, c.migration);
    const versionSchema = `public_${name}`;

    for (const pass of [1, 2] as const) {
      await withTidal(db.url, (t) => t.start(loaded));
      const old = await versionClient(db.url, null);
      const next = await versionClient(db.url, versionSchema);
      try {
        await c.whileActive?.({ db, old, next, pass });
      } finally {
        await old.end();
        await next.end();
      }
      if (pass === 2) break;
      await withTidal(db.url, (t) => t.rollback());
      expect(await snapshotCatalog(db.pool)).toEqual(before);
      await c.afterRollback?.(db);
    }
    await withTidal(db.url, (t) => t.complete());
    const status = await withTidal(db.url, (t) => t.status());
    expect(status.active).toBeNull();
    expect(status.latest?.name).toBe(name);
    // Nothing of tidal's is left on the tables.
    const leftovers = await db.query(
      `SELECT a.attname FROM pg_attribute a JOIN pg_class c ON c.oid = a.attrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname LIKE '\\_tidal\\_%' AND NOT a.attisdropped
       UNION ALL SELECT tgname FROM pg_trigger WHERE tgname LIKE '%tidal%'
       UNION ALL SELECT conname FROM pg_constraint WHERE conname LIKE '%\\_tidal\\_%'`,
    );
    expect(leftovers.rows).toEqual([]);
    await c.afterComplete?.(db);
  } finally {
    await db.dispose();
  }
}

/** Rows of a query as plain objects, ordered as the query orders them. */
export async function rows<T = Record<string, unknown>>(
  client: { query(sql: string, params?: unknown[]): Promise<{ rows: unknown[] }> },
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  return (await client.query(sql, params)).rows as T[];
}
