/** Reading migration files: YAML or JSON, strictly validated before anything runs. */
import { createHash } from 'node:crypto';
import { readdir, readFile, stat } from 'node:fs/promises';
import { basename, extname, join } from 'node:path';
import { LineCounter, parseDocument } from 'yaml';
import { InputError, messageOf } from '../errors.js';
import { findJsonSyntaxError } from './json-syntax.js';
import { problemsError, zodProblems } from './problems.js';
import { type Migration, migrationFileSchema } from './schema.js';
import { initSqlParser } from './sql-text.js';
import { validateMigration } from './validate.js';

export type MigrationFormat = 'yaml' | 'json';

export interface LoadedMigration {
  migration: Migration;
  /** The path the file was loaded from, as given. */
  file: string;
  /** The file's text, as stored in the migration history. */
  content: string;
  /** sha256 of the content (UTF-8), hex. */
  checksum: string;
}

const FORMATS: Record<string, MigrationFormat> = {
  '.yaml': 'yaml',
  '.yml': 'yaml',
  '.json': 'json',
};

/** The extensions of migration files: `.yaml`, `.yml`, `.json`. */
export const MIGRATION_EXTENSIONS = Object.keys(FORMATS);

function formatOf(file: string): MigrationFormat | undefined {
  return FORMATS[extname(file)];
}

/** Reads, parses and validates a migration file (offline: no database needed). */
export async function loadMigrationFile(path: string): Promise<LoadedMigration> {
  formatOfFile(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(path);
  } catch (error) {
    throw new InputError(`${path}: cannot read migration file: ${messageOf(error)}`);
  }
  let content: string;
  try {
    // ignoreBOM keeps a byte order mark in the content, so the content is the file's bytes.
    content = new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new InputError(`${path}: not valid UTF-8 text`);
  }
  return loadMigrationText(content, path);
}

/**
 * What loadMigrationFile makes of a file, from its text: parsed, validated and checksummed as
 * the file would be. `file` names the migration (its base name) and the format (its extension).
 */
export async function loadMigrationText(content: string, file: string): Promise<LoadedMigration> {
  const format = formatOfFile(file);
  await initSqlParser();
  const migration = parseMigrationText(content, file, format);
  const checksum = createHash('sha256').update(content, 'utf8').digest('hex');
  return { migration, file, content, checksum };
}

function formatOfFile(file: string): MigrationFormat {
  const format = formatOf(file);
  if (!format) {
    throw new InputError(
      `${file}: unsupported file extension "${extname(file)}" (expected .yaml, .yml or .json)`,
    );
  }
  return format;
}

/**
 * Parses and validates migration text; `file` names the migration and appears in messages.
 * Checks SQL too, so initSqlParser() must have completed.
 */
export function parseMigrationText(text: string, file: string, format: MigrationFormat): Migration {
  const name = migrationName(file);
  const document = format === 'json' ? parseJson(text, file) : parseYaml(text, file);
  if (document === null || document === undefined) {
    throw new InputError(`${file}: the file is empty (expected an object with "operations")`);
  }
  const parsed = migrationFileSchema.safeParse(document);
  if (!parsed.success) throw problemsError(file, zodProblems(parsed.error, document));
  const { name: declaredName, version_schema: versionSchema, operations } = parsed.data;
  if (declaredName !== undefined && declaredName !== name) {
    throw new InputError(
      `${file}: name: "${declaredName}" differs from the file's name "${name}" (a migration is named after its file)`,
    );
  }
  if (versionSchema !== undefined) {
    const problem = versionSchemaProblem(versionSchema);
    if (problem) throw new InputError(`${file}: version_schema: ${problem}`);
  }
  const migration: Migration = { name, versionSchema: versionSchema ?? name, operations };
  validateMigration(migration, file);
  return migration;
}

/** The file's base name without extension. */
function migrationName(file: string): string {
  const name = basename(file, extname(file));
  const problem = versionSchemaProblem(name);
  if (problem)
    throw new InputError(`${file}: the file name, which names the migration, ${problem}`);
  return name;
}

/** The engine checks the length of `<schema>_<version>`; this only rules out what never works. */
function versionSchemaProblem(name: string): string | undefined {
  if (name === '') return 'must not be empty';
  if (name.includes('\0')) return 'must not contain a NUL character';
  return undefined;
}

function lineAndColumn(text: string, index: number): string {
  const before = text.slice(0, index);
  const line = before.split('\n').length;
  return `line ${line}, column ${index - before.lastIndexOf('\n')}`;
}

function parseJson(text: string, file: string): unknown {
  const body = text.replace(/^\uFEFF/, '');
  const syntax = findJsonSyntaxError(body);
  if (syntax) {
    throw new InputError(
      `${file}: ${lineAndColumn(body, syntax.index)}: invalid JSON: ${syntax.message}`,
    );
  }
  try {
    return JSON.parse(body);
  } catch (error) {
    throw new InputError(`${file}: invalid JSON: ${messageOf(error)}`);
  }
}

function parseYaml(text: string, file: string): unknown {
  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  // Warnings (an unknown tag, say) would silently change a value, so they are errors here too.
  const [first] = [...document.errors, ...document.warnings];
  if (first) {
    const { line, col } = lineCounter.linePos(first.pos[0]);
    throw new InputError(`${file}: line ${line}, column ${col}: invalid YAML: ${first.message}`);
  }
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw new InputError(`${file}: invalid YAML: ${messageOf(error)}`);
  }
}

/**
 * The migration files of `dir` (.yaml, .yml, .json; hidden files skipped) in file-name order, as
 * paths joined to `dir`.
 */
export async function listMigrationFiles(dir: string): Promise<string[]> {
  let entries: string[];
  try {
    if (!(await stat(dir)).isDirectory()) throw new InputError(`${dir}: not a directory`);
    entries = await readdir(dir);
  } catch (error) {
    if (error instanceof InputError) throw error;
    throw new InputError(`${dir}: cannot read migrations directory: ${messageOf(error)}`);
  }
  const names = entries
    .filter((entry) => !entry.startsWith('.') && formatOf(entry))
    .sort(byCodeUnit);
  const seen = new Map<string, string>();
  for (const entry of names) {
    const name = basename(entry, extname(entry));
    const other = seen.get(name);
    if (other) {
      throw new InputError(`${dir}: ${other} and ${entry} both define migration "${name}"`);
    }
    seen.set(name, entry);
  }
  const files: string[] = [];
  for (const entry of names) {
    const file = join(dir, entry);
    if ((await stat(file)).isFile()) files.push(file);
  }
  return files;
}

/** Plain code-unit order, the same on every machine and locale. */
export function byCodeUnit(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
