/**
 * Knex through tidal/client: old and new releases write at once through start, complete and
 * rollback, naming the table through searchPath or with withSchema.
 */
import knex, { type Knex } from 'knex';
import { describe, expect, it } from 'vitest';
import { knexConfig } from '../../src/client/index.js';
import { type OpenRelease, type ReleaseSpec, rollingDeploys } from '../helpers/rolling-deploy.js';

function knexRelease(
  table: (db: Knex | Knex.Transaction, release: ReleaseSpec) => Knex.QueryBuilder,
): OpenRelease {
  return async (release) => {
    const db = knex(
      knexConfig(release.version, {
        connection: release.url,
        pool: { min: 0, max: release.connections },
      }),
    );
    const name = release.nameColumn;
    return {
      async write(inserted, updated) {
        await db.transaction(async (trx) => {
          await table(trx, release).insert({
            id: inserted.id,
            [name]: inserted.name,
            score: inserted.score,
          });
          await table(trx, release)
            .where({ id: updated.id })
            .update({ [name]: updated.name, score: updated.score });
        });
      },
      end: () => db.destroy(),
    };
  };
}

describe('Knex releases in a rolling deploy', () => {
  it('by searchPath: no transaction fails, every row is right after complete and rollback', async () => {
    const figures = await rollingDeploys(knexRelease((db) => db('users')));
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });

  it('withSchema(version schema): the same', async () => {
    const figures = await rollingDeploys(
      knexRelease((db, { version }) => db.withSchema(version.versionSchema).table('users')),
    );
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });
});
