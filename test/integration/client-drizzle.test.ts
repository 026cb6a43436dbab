/**
 * Drizzle over node-postgres through tidal/client: old and new releases write at once through
 * start, complete and rollback, with tables of pgTable (search_path) or of pgSchema(version
 * schema).
 */
import { eq } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { bigint, integer, pgSchema, pgTable, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { drizzleSetup } from '../../src/client/index.js';
import { type OpenRelease, type ReleaseSpec, rollingDeploys } from '../helpers/rolling-deploy.js';

/** The users table as the release's version names its columns, in `schema` when given. */
function usersTable(schema: string | undefined, nameColumn: ReleaseSpec['nameColumn']) {
  const columns = {
    id: integer('id').primaryKey(),
    name: text(nameColumn).notNull(),
    score: bigint('score', { mode: 'number' }),
  };
  // pgSchema refuses 'public': Drizzle names its tables with pgTable.
  return schema === undefined
    ? pgTable('users', columns)
    : pgSchema(schema).table('users', columns);
}

/** `qualified`: the table in pgSchema(version schema); else pgTable, reached by search_path. */
function drizzleRelease(qualified: boolean): OpenRelease {
  return async (release) => {
    const setup = drizzleSetup(release.version, {
      connectionString: release.url,
      max: release.connections,
    });
    const pool = new pg.Pool(setup.poolConfig);
    pool.on('error', () => {});
    const db = drizzle(pool);
    const schema = qualified && !release.version.base ? setup.versionSchema : undefined;
    const users = usersTable(schema, release.nameColumn);
    return {
      async write(inserted, updated) {
        await db.transaction(async (tx) => {
          await tx.insert(users).values(inserted);
          await tx
            .update(users)
            .set({ name: updated.name, score: updated.score })
            .where(eq(users.id, updated.id));
        });
      },
      end: () => pool.end(),
    };
  };
}

describe('Drizzle releases in a rolling deploy', () => {
  it('pgTable, by search_path: no transaction fails, every row is right after complete and rollback', async () => {
    const figures = await rollingDeploys(drizzleRelease(false));
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });

  it('pgSchema(version schema): the same (the base version is public: pgTable)', async () => {
    const figures = await rollingDeploys(drizzleRelease(true));
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });
});
