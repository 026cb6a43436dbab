/**
 * `tidal create NAME`: a new migration file in the migrations folder, numbered after the last,
 * holding a commented template, or what `tidal convert` writes for a SQL file.
 */
import { mkdir, readdir, writeFile } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { InputError, messageOf } from '../errors.js';

/** The number a file name starts with, and how many digits it has. */
const NUMBERED = /^(\d+)[_-]/;

/** The file name of a new migration NAME after the `existing` files of its folder: the next
 *  number, as wide as the widest there (at least four digits), then `_NAME.yaml`. */
export function nextMigrationFile(existing: string[], name: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_-]*$/.test(name)) {
    throw new InputError(
      `create: "${name}" is not a migration name: use letters, digits, _ and - (it names the file and the migration)`,
    );
  }
  let last = 0n;
  let width = 4;
  for (const file of existing) {
    const digits = NUMBERED.exec(file)?.[1];
    if (!digits) continue;
    width = Math.max(width, digits.length);
    if (BigInt(digits) > last) last = BigInt(digits);
  }
  return `${String(last + 1n).padStart(width, '0')}_${name}.yaml`;
}

/**
 * The migration name for a SQL migration file: its base name, or, for a file every migration of
 * a tool names alike (Prisma's `<timestamp>_<name>/migration.sql`, `up.sql`), its folder's.
 */
export function migrationNameOf(sqlFile: string): string {
  const name = basename(sqlFile, extname(sqlFile));
  return ['migration', 'up'].includes(name) ? basename(dirname(sqlFile)) : name;
}

/** The template of a new migration: refused (no operations) until its operations are written. */
export function migrationTemplate(name: string): string {
  return `# ${name}: a tidal migration (pgroll's format). \`tidal start\` expands the schema and
# fills existing rows in batches, \`tidal complete\` contracts it once no release uses the old
# version, and \`tidal rollback\` undoes it until then. Write its operations in place of the []
# below, for example:
#
#   - add_column:              # a column; up fills the rows already there
#       table: users
#       column: {name: email_lower, type: text, nullable: false}
#       up: lower(email)
#   - alter_column:            # a new type, both columns in sync while both versions run
#       table: users
#       column: score
#       type: bigint
#       up: CAST(score AS bigint)
#       down: CAST(score AS integer)
#   - create_index: {name: users_email_idx, table: users, columns: [{column: email}]}
#
# The README's "Migration files" lists every operation and field. \`tidal validate\` checks the
# file; \`tidal plan\` shows each statement it will run and the lock each takes.
operations: []
`;
}

/** Where the next migration NAME of `dir` goes (the folder is made if missing). */
export async function nextMigrationPath(dir: string, name: string): Promise<string> {
  await mkdir(dir, { recursive: true }).catch((error: unknown) => {
    throw new InputError(`create: cannot make ${dir}: ${messageOf(error)}`);
  });
  const entries = await readdir(dir).catch((error: unknown) => {
    throw new InputError(`create: cannot read ${dir}: ${messageOf(error)}`);
  });
  return join(dir, nextMigrationFile(entries, name));
}

/** Writes a new file, never over one. */
export async function writeNewFile(path: string, content: string): Promise<void> {
  await writeFile(path, content, { flag: 'wx' }).catch((error: unknown) => {
    throw new InputError(`cannot write ${path}: ${messageOf(error)}`);
  });
}
