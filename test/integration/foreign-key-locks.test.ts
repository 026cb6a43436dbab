/**
 * A foreign key is added NOT VALID and validated later by several operations and paths; the
 * VALIDATE of each locks the referenced table as well. Every path declares the same locks, and
 * they are the ones PostgreSQL takes: observed in pg_locks on both tables, through start,
 * complete and rollback.
 */
import { describe, expect, it } from 'vitest';
import type { LoadedMigration } from '../../src/migration/load.js';
import { type ObservedStep, observeLocks } from '../helpers/observe-locks.js';
import { migrationFromYaml } from '../helpers/tidal.js';

const SETUP = [
  'CREATE TABLE parents (id int PRIMARY KEY)',
  'INSERT INTO parents SELECT generate_series(1, 20)',
  `CREATE TABLE kids (id int PRIMARY KEY, a int, b int, c int, d int,
     e int CONSTRAINT kids_e_fkey REFERENCES parents (id),
     f int CONSTRAINT kids_f_fkey REFERENCES parents (id))`,
  'INSERT INTO kids SELECT g, g, g, g, g, g, g FROM generate_series(1, 20) g',
  'CREATE TABLE owners (id int PRIMARY KEY)',
  'INSERT INTO owners SELECT generate_series(1, 20)',
  'CREATE TABLE pets (id int PRIMARY KEY, owner int CONSTRAINT pets_owner_fkey REFERENCES owners (id))',
  'INSERT INTO pets SELECT g, g FROM generate_series(1, 20) g',
];

/** One migration per way a foreign key gets added, each on the tables SETUP made. */
const PATHS: Record<string, string> = {
  add_column_references: `operations:
  - add_column:
      table: kids
      up: a
      column: {name: guardian, type: int, nullable: true, references: {name: kids_guardian_fk, table: parents, column: id}}
`,
  alter_column_references_copy: `operations:
  - alter_column:
      table: kids
      column: a
      references: {name: kids_a_fk, table: parents, column: id}
      up: CASE WHEN a > 0 THEN a END
      down: a
`,
  alter_column_references_in_place: `operations:
  - alter_column:
      table: kids
      column: b
      references: {name: kids_b_fk, table: parents, column: id}
`,
  create_constraint_in_place: `operations:
  - create_constraint:
      type: foreign_key
      table: kids
      name: kids_c_fk
      columns: [c]
      references: {table: parents, columns: [id]}
      up: {c: c}
      down: {c: c}
`,
  create_constraint_over_copies: `operations:
  - create_constraint:
      type: foreign_key
      table: kids
      name: kids_d_fk
      columns: [d]
      references: {table: parents, columns: [id]}
      up: {d: CASE WHEN d > 0 THEN d END}
      down: {d: d}
`,
  copy_of_a_column_with_a_foreign_key: `operations:
  - alter_column: {table: kids, column: e, type: bigint, up: e, down: CAST(e AS int)}
`,
  copy_of_a_referenced_key: `operations:
  - alter_column: {table: owners, column: id, type: bigint, up: id, down: CAST(id AS int)}
`,
  drop_constraint_restored_at_rollback: `operations:
  - drop_constraint: {table: kids, name: kids_f_fkey, up: f, down: f}
`,
};

async function migrations(): Promise<LoadedMigration[]> {
  return Promise.all(Object.entries(PATHS).map(([name, yaml]) => migrationFromYaml(name, yaml)));
}

/** The observed VALIDATE steps of foreign keys: of constraints some step adds as FOREIGN KEY. */
function foreignKeyValidations(steps: ObservedStep[]): ObservedStep[] {
  const keys = new Set(
    steps.flatMap(({ step }) => {
      const added = /ADD CONSTRAINT ("(?:[^"]|"")+") FOREIGN KEY/.exec(step.sql);
      return added?.[1] ? [added[1]] : [];
    }),
  );
  return steps.filter(({ step }) => {
    const validated = /VALIDATE CONSTRAINT ("(?:[^"]|"")+")$/.exec(step.sql);
    return validated?.[1] !== undefined && keys.has(validated[1]);
  });
}

describe('a foreign key validated later, by every path that adds one', () => {
  it.each(['complete', 'rollback'] as const)(
    'declares the locks PostgreSQL takes on both tables, through start and %s',
    async (end) => {
      const { mismatches, steps } = await observeLocks(await migrations(), SETUP, { end });
      expect(mismatches).toEqual([]);

      const validations = foreignKeyValidations(steps);
      // One per path; rollback also restores the dropped key.
      expect(validations.map((v) => v.label.split('.yaml')[0])).toEqual(
        Object.keys(PATHS).filter((p) => end === 'rollback' || !p.includes('rollback')),
      );
      // Every path declares the same: SHARE UPDATE EXCLUSIVE on the table, ROW SHARE on the one
      // it references; and PostgreSQL takes just that.
      for (const { label, step, lock, others } of validations) {
        const referenced = step.alsoLocks?.map((l) => `${l.table.schema}.${l.table.name}`);
        expect({ label, lock: step.lock, also: step.alsoLocks?.map((l) => l.lock) }).toEqual({
          label,
          lock: 'ShareUpdateExclusive',
          also: ['RowShare'],
        });
        expect({ label, lock, others }).toEqual({
          label,
          lock: 'ShareUpdateExclusive',
          others: { [referenced?.[0] ?? '']: 'RowShare' },
        });
      }
    },
    120_000,
  );
});
