import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { extname, join } from 'node:path';
import { InputError, messageOf } from '../errors.js';
import { MIGRATION_EXTENSIONS } from '../migration/load.js';
import { stateExists } from '../state/layout.js';
import { appliedFiles } from '../state/store.js';
import type { Session } from './session.js';

/** What `tidal pull` did with each migration the database records. */
export interface PulledMigration {
  name: string;
  path: string;
  /** `written` now, or already `present` with the same content. */
  outcome: 'written' | 'present';
  /** The migration is started and not completed. */
  active: boolean;
}

/**
 * `tidal pull DIR`: writes every migration the database records (completed, then the active
 * one) into DIR as the file it was applied from, byte for byte, so a checkout can be brought in
 * line with the database. A file already there with the same content is left; one with other
 * content is refused before anything is written.
 */
export async function pullMigrations(session: Session, dir: string): Promise<PulledMigration[]> {
  const { client, settings, store } = session;
  const hasState = await stateExists(client, settings.stateSchema);
  const active = hasState ? await store.active() : undefined;
  // A whole started as one (`migrate --as-one`) gives back each of its files.
  const files = [
    ...appliedFiles(hasState ? await store.completed() : []).map((f) => ({ ...f, active: false })),
    ...appliedFiles(active ? [active] : []).map((f) => ({ ...f, active: true })),
  ];
  const existing = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return [] as string[];
    throw new InputError(`pull: cannot read ${dir}: ${messageOf(error)}`);
  });
  const planned: PulledMigration[] = [];
  const conflicts: string[] = [];
  for (const record of files) {
    const same = existing.find(
      (f) =>
        MIGRATION_EXTENSIONS.includes(extname(f)) && f.slice(0, -extname(f).length) === record.name,
    );
    const path = join(dir, same ?? `${record.name}${extensionOf(record.content)}`);
    const outcome = same ? await compare(path, record.content) : 'written';
    if (outcome === 'differs')
      conflicts.push(`${path}: differs from what the database recorded for "${record.name}"`);
    else planned.push({ name: record.name, path, outcome, active: record.active });
  }
  if (conflicts.length > 0) {
    throw new InputError(`pull: nothing written:\n${conflicts.join('\n')}`);
  }
  if (planned.some((p) => p.outcome === 'written')) {
    await mkdir(dir, { recursive: true }).catch((error: unknown) => {
      throw new InputError(`pull: cannot make ${dir}: ${messageOf(error)}`);
    });
  }
  for (const p of planned) {
    if (p.outcome !== 'written') continue;
    const record = files.find((r) => r.name === p.name);
    await writeFile(p.path, record?.content ?? '', { flag: 'wx' }).catch((error: unknown) => {
      throw new InputError(`pull: cannot write ${p.path}: ${messageOf(error)}`);
    });
  }
  return planned;
}

/** The extension of a migration's recorded content: JSON files parse as JSON. */
function extensionOf(content: string): string {
  try {
    JSON.parse(content);
    return '.json';
  } catch {
    return '.yaml';
  }
}

async function compare(path: string, content: string): Promise<'present' | 'differs'> {
  const text = await readFile(path, 'utf8');
  return text === content ? 'present' : 'differs';
}
