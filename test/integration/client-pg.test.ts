/**
 * node-postgres through tidal/client: old and new releases write at once through start,
 * complete and rollback, naming the table through search_path or schema-qualified.
 */
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { pgPoolConfig } from '../../src/client/index.js';
import { ident } from '../../src/pg/quote.js';
import { type OpenRelease, type ReleaseSpec, rollingDeploys } from '../helpers/rolling-deploy.js';

function pgRelease(table: (release: ReleaseSpec) => string): OpenRelease {
  return async (release) => {
    const pool = new pg.Pool(
      pgPoolConfig(release.version, { connectionString: release.url, max: release.connections }),
    );
    pool.on('error', () => {});
    const users = table(release);
    const name = ident(release.nameColumn);
    return {
      async write(inserted, updated) {
        const client = await pool.connect();
        try {
          await client.query('BEGIN');
          await client.query(`INSERT INTO ${users} (id, ${name}, score) VALUES ($1, $2, $3)`, [
            inserted.id,
            inserted.name,
            inserted.score,
          ]);
          await client.query(`UPDATE ${users} SET ${name} = $2, score = $3 WHERE id = $1`, [
            updated.id,
            updated.name,
            updated.score,
          ]);
          await client.query('COMMIT');
        } catch (error) {
          await client.query('ROLLBACK').catch(() => {});
          throw error;
        } finally {
          client.release();
        }
      },
      end: () => pool.end(),
    };
  };
}

describe('node-postgres releases in a rolling deploy', () => {
  it('by search_path: no transaction fails, every row is right after complete and rollback', async () => {
    const figures = await rollingDeploys(pgRelease(() => 'users'));
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });

  it('schema-qualified SQL: the same', async () => {
    const figures = await rollingDeploys(
      pgRelease(({ version }) => `${ident(version.versionSchema)}.users`),
    );
    for (const count of Object.values(figures.transactions)) expect(count).toBeGreaterThan(0);
  });
});
