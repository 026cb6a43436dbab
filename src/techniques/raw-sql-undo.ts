import type { Node, RangeVar } from 'libpg-query';
import { catalogStep, type Step } from '../model/step.js';
import { ident, qualifiedName } from '../pg/quote.js';

function rangeVarName(rv: RangeVar | undefined): string | undefined {
  if (!rv?.relname) return undefined;
  return rv.schemaname ? qualifiedName(rv.schemaname, rv.relname) : ident(rv.relname);
}

function qualifiedNameList(names: Node[] | undefined): string | undefined {
  const parts = (names ?? []).map((n) => ('String' in n ? n.String.sval : undefined));
  if (parts.length === 0 || parts.some((p) => p === undefined)) return undefined;
  return parts.map((p) => ident(p as string)).join('.');
}

function mayFindItThere(node: Node): boolean {
  const stmt = Object.values(node)[0] as { if_not_exists?: boolean; replace?: boolean } | undefined;
  return stmt?.if_not_exists === true || stmt?.replace === true;
}

/**
 * The statement that undoes a CREATE of `sql` without a `down`, so rolling back a raw `sql`
 * operation removes the objects it made (tables, types, domains, sequences, views, indexes,
 * schemas, extensions). Undefined for anything else: such a statement stays after rollback.
 */
export function undoOfCreate(node: Node): Step | undefined {
  // `IF NOT EXISTS` and `OR REPLACE` may find the object there already, made by someone else:
  // rollback cannot tell, so it leaves the object alone.
  if (mayFindItThere(node)) return undefined;
  const drop = (kind: string, name: string | undefined, concurrently = false): Step | undefined =>
    name === undefined
      ? undefined
      : {
          ...catalogStep(
            `DROP ${kind}${concurrently ? ' CONCURRENTLY' : ''} IF EXISTS ${name}`,
            `undo SQL: drop ${kind.toLowerCase()} ${name}`,
          ),
          transactional: !concurrently,
        };
  if ('CreateStmt' in node) return drop('TABLE', rangeVarName(node.CreateStmt.relation));
  if ('CreateTableAsStmt' in node) {
    const stmt = node.CreateTableAsStmt;
    return drop(
      stmt.objtype === 'OBJECT_MATVIEW' ? 'MATERIALIZED VIEW' : 'TABLE',
      rangeVarName(stmt.into?.rel),
    );
  }
  if ('ViewStmt' in node) return drop('VIEW', rangeVarName(node.ViewStmt.view));
  if ('CreateSeqStmt' in node) return drop('SEQUENCE', rangeVarName(node.CreateSeqStmt.sequence));
  if ('CreateEnumStmt' in node)
    return drop('TYPE', qualifiedNameList(node.CreateEnumStmt.typeName));
  if ('CompositeTypeStmt' in node)
    return drop('TYPE', rangeVarName(node.CompositeTypeStmt.typevar));
  if ('CreateRangeStmt' in node)
    return drop('TYPE', qualifiedNameList(node.CreateRangeStmt.typeName));
  if ('CreateDomainStmt' in node)
    return drop('DOMAIN', qualifiedNameList(node.CreateDomainStmt.domainname));
  if ('CreateSchemaStmt' in node) {
    const name = node.CreateSchemaStmt.schemaname;
    return drop('SCHEMA', name ? ident(name) : undefined);
  }
  if ('CreateExtensionStmt' in node) {
    const name = node.CreateExtensionStmt.extname;
    return drop('EXTENSION', name ? ident(name) : undefined);
  }
  if ('IndexStmt' in node) {
    const stmt = node.IndexStmt;
    if (!stmt.idxname) return undefined;
    const schema = stmt.relation?.schemaname;
    return drop('INDEX', schema ? qualifiedName(schema, stmt.idxname) : ident(stmt.idxname), true);
  }
  return undefined;
}
