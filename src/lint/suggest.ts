/**
 * The tidal migration that makes a flagged statement's change safely, where the statement says
 * enough to write it: names, columns and types come from the parse tree. Expressions the SQL
 * cannot give (`up` for rows that are NULL, `down` back to the old type) start as the column
 * itself: correct where the values stay as they are, a place to edit where they do not.
 */
import type { Node, RangeVar, TypeName } from 'libpg-query';
import { stringify } from 'yaml';

/** A pgroll-format migration as YAML, or null when the statement is not one tidal rewrites. */
export function tidalMigration(ruleId: string, node: Node): string | null {
  const operations = operationsFor(ruleId, node);
  return operations ? stringify({ operations }, { lineWidth: 0 }).trimEnd() : null;
}

type Operation = Record<string, unknown>;

const relation = (r: RangeVar | undefined) => r?.relname ?? '';
const strings = (nodes: Node[] | undefined) =>
  (nodes ?? []).flatMap((n) =>
    'String' in n && n.String.sval !== undefined ? [n.String.sval] : [],
  );

/** Internal type names as people write them. */
const TYPE_NAMES: Record<string, string> = {
  int2: 'smallint',
  int4: 'integer',
  int8: 'bigint',
  float4: 'real',
  float8: 'double precision',
  bool: 'boolean',
  bpchar: 'char',
  timestamptz: 'timestamptz',
};

function typeText(t: TypeName | undefined): string {
  const name = strings(t?.names).at(-1) ?? 'text';
  const modifiers = (t?.typmods ?? []).flatMap((m) =>
    'A_Const' in m && m.A_Const.ival ? [String(m.A_Const.ival.ival ?? 0)] : [],
  );
  return `${TYPE_NAMES[name] ?? name}${modifiers.length > 0 ? `(${modifiers.join(', ')})` : ''}`;
}

function operationsFor(ruleId: string, node: Node): Operation[] | null {
  if ('RenameStmt' in node) {
    const r = node.RenameStmt;
    if (ruleId === 'rename-column')
      return [{ rename_column: { table: relation(r.relation), from: r.subname, to: r.newname } }];
    if (ruleId === 'rename-table')
      return [{ rename_table: { from: relation(r.relation), to: r.newname } }];
  }
  if ('DropStmt' in node) {
    const names = (node.DropStmt.objects ?? []).map((o) =>
      strings('List' in o ? o.List.items : []).at(-1),
    );
    if (ruleId === 'drop-table') return names.map((name) => ({ drop_table: { name } }));
    if (ruleId === 'drop-index-not-concurrently')
      return names.map((name) => ({ drop_index: { name } }));
  }
  if ('IndexStmt' in node && ruleId === 'create-index-not-concurrently') {
    const i = node.IndexStmt;
    const columns = (i.indexParams ?? []).flatMap((p) =>
      'IndexElem' in p && p.IndexElem.name ? [p.IndexElem.name] : [],
    );
    // An expression index has no column list tidal's create_index can take.
    if (columns.length !== (i.indexParams ?? []).length) return null;
    const table = relation(i.relation);
    return [
      {
        create_index: {
          name: i.idxname ?? `${table}_${columns.join('_')}_idx`,
          table,
          columns: columns.map((column) => ({ column })),
          ...(i.unique ? { unique: true } : {}),
        },
      },
    ];
  }
  if (!('AlterTableStmt' in node)) return null;
  const table = relation(node.AlterTableStmt.relation);
  const operations: Operation[] = [];
  for (const n of node.AlterTableStmt.cmds ?? []) {
    if (!('AlterTableCmd' in n)) continue;
    const cmd = n.AlterTableCmd;
    const def = cmd.def;
    if (ruleId === 'drop-column' && cmd.subtype === 'AT_DropColumn')
      operations.push({ drop_column: { table, column: cmd.name } });
    if (ruleId === 'set-not-null' && cmd.subtype === 'AT_SetNotNull')
      operations.push({
        alter_column: { table, column: cmd.name, nullable: false, up: cmd.name, down: cmd.name },
      });
    if (
      ruleId === 'alter-column-type' &&
      cmd.subtype === 'AT_AlterColumnType' &&
      def &&
      'ColumnDef' in def
    ) {
      const type = typeText(def.ColumnDef.typeName);
      operations.push({
        alter_column: {
          table,
          column: cmd.name,
          type,
          up: `CAST(${cmd.name} AS ${type})`,
          down: cmd.name,
        },
      });
    }
    if (cmd.subtype !== 'AT_AddConstraint' || !def || !('Constraint' in def)) continue;
    const c = def.Constraint;
    const keep = (columns: string[]) => Object.fromEntries(columns.map((k) => [k, k]));
    if (
      ruleId === 'add-unique-constraint' &&
      (c.contype === 'CONSTR_UNIQUE' || c.contype === 'CONSTR_PRIMARY')
    ) {
      const columns = strings(c.keys);
      operations.push({
        create_constraint: {
          type: c.contype === 'CONSTR_UNIQUE' ? 'unique' : 'primary_key',
          table,
          name: c.conname ?? `${table}_${columns.join('_')}_key`,
          columns,
          up: keep(columns),
          down: keep(columns),
        },
      });
    }
    if (ruleId === 'add-foreign-key-validated' && c.contype === 'CONSTR_FOREIGN') {
      const columns = strings(c.fk_attrs);
      operations.push({
        create_constraint: {
          type: 'foreign_key',
          table,
          name: c.conname ?? `${table}_${columns.join('_')}_fkey`,
          columns,
          references: { table: relation(c.pktable), columns: strings(c.pk_attrs) },
          up: keep(columns),
          down: keep(columns),
        },
      });
    }
  }
  return operations.length > 0 ? operations : null;
}
