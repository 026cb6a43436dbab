/**
 * Release 2 of the accounts service: the column is display_name now and balances are bigint
 * (migrations/02_display_name_bigint_balance.yaml). Its HTTP API is release 1's, so a load
 * balancer can send any request to either release while both run.
 */
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { newestMigration, pgPoolConfig, releaseVersion, tidalVersion } from 'tidal/client';
import { serve } from '../lib/service.mjs';

const migrations = fileURLToPath(new URL('./migrations', import.meta.url));
const version = tidalVersion({
  version: releaseVersion(newestMigration(migrations)),
  application: 'accounts',
});
const pool = new pg.Pool(
  pgPoolConfig(version, { connectionString: process.env.DATABASE_URL, max: 4 }),
);

serve({
  pool,
  routes: {
    'POST /accounts': async (_, { name, balance }) => {
      const { rows } = await pool.query(
        'INSERT INTO accounts (display_name, balance) VALUES ($1, $2) RETURNING id',
        [name, balance],
      );
      return [201, { id: Number(rows[0].id) }];
    },
    'PUT /accounts/:id': async ({ id }, { name, balance }) => {
      const { rowCount } = await pool.query(
        'UPDATE accounts SET display_name = $2, balance = $3 WHERE id = $1',
        [id, name, balance],
      );
      return rowCount === 1 ? [200, { id: Number(id) }] : [404, { error: `no account ${id}` }];
    },
    'GET /accounts/:id': async ({ id }) => {
      const { rows } = await pool.query(
        'SELECT id, display_name, balance FROM accounts WHERE id = $1',
        [id],
      );
      if (rows.length === 0) return [404, { error: `no account ${id}` }];
      // bigint arrives as a string: the API keeps answering with a number.
      const { display_name, balance } = rows[0];
      return [200, { id: Number(rows[0].id), name: display_name, balance: Number(balance) }];
    },
  },
});
