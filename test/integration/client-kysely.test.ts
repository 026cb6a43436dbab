/**
 * Kysely through tidal/client: old and new releases write at once through start, complete and
 * rollback, naming the table through search_path or with withSchema(version schema).
 */
import { Kysely, PostgresDialect } from 'kysely';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { kyselyDialectConfig } from '../../src/client/index.js';
import { type OpenRelease, rollingDeploys } from '../helpers/rolling-deploy.js';

/** Every version's users table; a release names only its own name column. */
interface Database {
  users: {
    id: number;
    name?: string;
    display_name?: string;
    nickname?: string;
    score: number | string | null;
  };
}

function kyselyRelease(qualified: boolean): OpenRelease {
  return async (release) => {
    const config = kyselyDialectConfig(release.version, pg.Pool, {
      connectionString: release.url,
      max: release.connections,
    });
    config.pool.on('error', () => {});
    const root = new Kysely<Database>({ dialect: new PostgresDialect(config) });
    const name = release.nameColumn;
    return {
      async write(inserted, updated) {
        await root.transaction().execute(async (trx) => {
          const db = qualified ? trx.withSchema(config.versionSchema) : trx;
          await db
            .insertInto('users')
            .values({ id: inserted.id, [name]: inserted.name, score: inserted.score })
            .execute();
          await db
            .updateTable('users')
            .set({ [name]: updated.name, score: updated.score })
            .where('id', '=', updated.id)
            .execute();
        });
      },
      end: () => root.destroy(),
    };
  };
}

describe('Kysely releases in a rolling deploy', () => {
  it('by search_path: no transaction fails, every row is right after complete and rollback', async () => {
    const figures = await rollingDeploys(kyselyRelease(false));
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });

  it('withSchema(version schema): the same', async () => {
    const figures = await rollingDeploys(kyselyRelease(true));
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });
});
