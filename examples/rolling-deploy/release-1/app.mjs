/**
 * Release 1 of the accounts service. It is built for the newest migration it ships
 * (migrations/01_accounts.yaml): tidal/client selects that version on every connection, tags the
 * session so `tidal status` and `tidal complete` can tell it apart, and refuses to connect if the
 * version is not live. TIDAL_VERSION overrides the pin.
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
        'INSERT INTO accounts (name, balance) VALUES ($1, $2) RETURNING id',
        [name, balance],
      );
      return [201, { id: Number(rows[0].id) }];
    },
    'PUT /accounts/:id': async ({ id }, { name, balance }) => {
      const { rowCount } = await pool.query(
        'UPDATE accounts SET name = $2, balance = $3 WHERE id = $1',
        [id, name, balance],
      );
      return rowCount === 1 ? [200, { id: Number(id) }] : [404, { error: `no account ${id}` }];
    },
    'GET /accounts/:id': async ({ id }) => {
      const { rows } = await pool.query('SELECT id, name, balance FROM accounts WHERE id = $1', [
        id,
      ]);
      if (rows.length === 0) return [404, { error: `no account ${id}` }];
      return [200, { id: Number(rows[0].id), name: rows[0].name, balance: rows[0].balance }];
    },
  },
});
