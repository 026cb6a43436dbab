import type { Grant } from '../catalog/types.js';
import { ident } from '../pg/quote.js';

/** Privileges a view (or a table) takes on the whole relation, and on single columns. */
const RELATION_PRIVILEGES = new Set([
  'SELECT',
  'INSERT',
  'UPDATE',
  'DELETE',
  'TRUNCATE',
  'REFERENCES',
  'TRIGGER',
]);
const COLUMN_PRIVILEGES = new Set(['SELECT', 'INSERT', 'UPDATE', 'REFERENCES']);

/** `"role"`, or PUBLIC. */
export function granteeName(grantee: string | null): string {
  return grantee === null ? 'PUBLIC' : ident(grantee);
}

/**
 * The GRANT statements that give the roles of `table` (privileges on the whole relation) and of
 * `columns` (privileges on single columns, under the column names of `on`) the same on `on`:
 * one statement per role and grant option.
 */
export function grantStatements(
  on: string,
  table: Grant[],
  columns: { name: string; grants: Grant[] }[],
): string[] {
  const byRole = new Map<string, { grantee: string | null; grantable: boolean; parts: string[] }>();
  const add = (g: Grant, part: string) => {
    const key = JSON.stringify([g.grantee, g.grantable]);
    let entry = byRole.get(key);
    if (!entry) {
      entry = { grantee: g.grantee, grantable: g.grantable, parts: [] };
      byRole.set(key, entry);
    }
    if (!entry.parts.includes(part)) entry.parts.push(part);
  };
  for (const g of table) if (RELATION_PRIVILEGES.has(g.privilege)) add(g, g.privilege);
  const perColumn = new Map<string, { grant: Grant; columns: string[] }>();
  for (const column of columns) {
    for (const g of column.grants) {
      if (!COLUMN_PRIVILEGES.has(g.privilege)) continue;
      const key = JSON.stringify([g.grantee, g.grantable, g.privilege]);
      const entry = perColumn.get(key) ?? { grant: g, columns: [] };
      entry.columns.push(ident(column.name));
      perColumn.set(key, entry);
    }
  }
  for (const { grant, columns: names } of perColumn.values())
    add(grant, `${grant.privilege} (${names.join(', ')})`);
  return [...byRole.values()].map(
    (r) =>
      `GRANT ${r.parts.join(', ')} ON ${on} TO ${granteeName(r.grantee)}${r.grantable ? ' WITH GRANT OPTION' : ''}`,
  );
}
