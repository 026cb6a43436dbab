/**
 * examples/rolling-deploy runs as the README says: two releases of a service behind a load
 * balancer through migrate, both live, drain and `tidal complete --wait`, with no failed request,
 * no wrong read and no wrong row. It runs against the test server (a throwaway database of its
 * own), importing `tidal` through the link `npm install` makes (made here when it is missing).
 */
import { execFile } from 'node:child_process';
import { lstat, mkdir, mkdtemp, readFile, rm, symlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';
import { adminUrl } from '../helpers/db.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const EXAMPLE = join(ROOT, 'examples/rolling-deploy');

interface PhaseFigures {
  phase: string;
  requests: number;
  failed: number;
  wrongReads: number;
  p99Ms: number;
  firstFailures: string[];
}

interface Figures {
  phases: PhaseFigures[];
  rows: { checked: number; wrong: number; extra: number };
  waited: boolean;
}

/** What `npm install` in the example makes of `"tidal": "file:../.."`: a link to the repository. */
async function linkTidal(): Promise<void> {
  const link = join(EXAMPLE, 'node_modules/tidal');
  const exists = await lstat(link).then(
    () => true,
    () => false,
  );
  if (exists) return;
  await mkdir(join(EXAMPLE, 'node_modules'), { recursive: true });
  await symlink('../../..', link);
}

function runDeploy(figuresFile: string): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [join(EXAMPLE, 'deploy.mjs'), '--figures', figuresFile],
      { cwd: EXAMPLE, env: { ...process.env, DATABASE_URL: adminUrl() }, timeout: 240_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : 1) : 0;
        resolve({ code, output: `${stdout}\n${stderr}` });
      },
    );
  });
}

it('the rolling deploy of the example: every phase served, nothing failed, nothing wrong', async () => {
  await linkTidal();
  const dir = await mkdtemp(join(tmpdir(), 'tidal-example-'));
  try {
    const figuresFile = join(dir, 'figures.json');
    const { code, output } = await runDeploy(figuresFile);
    expect(code, output).toBe(0);
    const figures = JSON.parse(await readFile(figuresFile, 'utf8')) as Figures;

    expect(figures.phases.map((p) => p.phase)).toEqual([
      'release 1 serves',
      'tidal migrate: expand, backfill',
      'both releases serve',
      'release 1 drains, tidal complete --wait',
      'release 2 serves alone',
    ]);
    for (const phase of figures.phases) {
      expect(phase.requests, phase.phase).toBeGreaterThan(0);
      expect({ phase: phase.phase, failed: phase.failed, wrongReads: phase.wrongReads }).toEqual({
        phase: phase.phase,
        failed: 0,
        wrongReads: 0,
      });
    }
    // 20,000 seeded accounts, and those the clients created.
    expect(figures.rows.checked).toBeGreaterThan(20_000);
    expect(figures.rows).toMatchObject({ wrong: 0, extra: 0 });
    // complete saw release 1 connected, waited, and went on once it had drained.
    expect(figures.waited).toBe(true);
    expect(output).toMatch(/waiting for \d+ session\(s\) of version "01_accounts" to disconnect/);
    expect(output).toContain('migration "02_display_name_bigint_balance" completed');
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}, 300_000);
