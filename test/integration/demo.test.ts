/** `tidal demo`: both ways run under traffic, and the report says what each did to it. */
import { describe, expect, it } from 'vitest';
import type { DemoReport } from '../../src/demo/run.js';
import { adminUrl } from '../helpers/db.js';
import { runCli } from '../helpers/tidal.js';

describe('tidal demo', () => {
  it('makes the change both ways under traffic; tidal fails no transaction and loses nothing', async () => {
    const args = [
      'demo',
      '--server',
      adminUrl(),
      '--rows',
      '5000',
      '--rate',
      '100',
      '--phase-ms',
      '700',
    ];
    const result = await runCli([...args, '--json']);
    expect(result.code, result.stderr).toBe(0);
    const report = JSON.parse(result.stdout.trim().split('\n').at(-1) ?? '') as DemoReport;
    expect(report.ways.map((w) => w.way)).toEqual(['Big Bang', 'tidal']);
    const [bigBang, tidal] = report.ways;
    // Traffic ran in every phase of both ways.
    for (const way of report.ways) {
      expect(way.baseline.transactions).toBeGreaterThan(20);
      expect(way.during.transactions).toBeGreaterThan(0);
      expect(way.after.transactions).toBeGreaterThan(20);
    }
    expect(bigBang?.changeMs).toBeGreaterThan(0);
    expect(tidal?.during.failed).toBe(0);
    expect(tidal?.after.failed).toBe(0);
    for (const check of tidal?.invariants ?? [])
      expect(check.actual, check.name).toBe(check.expected);

    // In words: the table side by side, and tidal against its targets.
    const text = await runCli(args);
    expect(text.code, text.stderr).toBe(0);
    expect(text.stdout).toMatch(/What the application felt:\n\n\s+Big Bang\s+tidal/);
    expect(text.stdout).toMatch(/met\s+no failed transaction/);
  }, 120_000);
});
