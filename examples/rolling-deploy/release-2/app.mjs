/**
 * Release 2 of the accounts service, built for migrations/02_display_name_bigint_balance.yaml:
 * the column is display_name now and balances are bigint. Its HTTP API is release 1's, so a load
 * balancer may send any request to either release while both run.
 */
import { releasePool, serveAccounts } from '../lib/service.mjs';

serveAccounts(releasePool(new URL('./migrations', import.meta.url)), {
  insert: 'INSERT INTO accounts (display_name, balance) VALUES ($1, $2) RETURNING id',
  update: 'UPDATE accounts SET display_name = $2, balance = $3 WHERE id = $1',
  select: 'SELECT id, display_name AS name, balance FROM accounts WHERE id = $1',
});
