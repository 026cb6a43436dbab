/**
 * Release 1 of the accounts service, built for the newest migration it ships,
 * migrations/01_accounts.yaml: accounts(id, name, balance integer).
 */
import { releasePool, serveAccounts } from '../lib/service.mjs';

serveAccounts(releasePool(new URL('./migrations', import.meta.url)), {
  insert: 'INSERT INTO accounts (name, balance) VALUES ($1, $2) RETURNING id',
  update: 'UPDATE accounts SET name = $2, balance = $3 WHERE id = $1',
  select: 'SELECT id, name, balance FROM accounts WHERE id = $1',
});
