/** `tidal lint` output: text for people, JSON, SARIF 2.1.0 for code scanning, and the rule
 *  table of the README. */
import type { LintFinding } from './lint.js';
import { RULES } from './rules.js';

export type LintFormat = 'text' | 'json' | 'sarif';

export function renderFindings(
  format: LintFormat,
  result: { files: string[]; findings: LintFinding[] },
): string {
  if (format === 'json') return JSON.stringify(result, null, 2);
  if (format === 'sarif') return JSON.stringify(sarif(result.findings), null, 2);
  const lines = result.findings.flatMap((f) => [
    `${f.file}:${f.line}:${f.column}: ${f.level} [${f.rule}] ${f.message}`,
    ...(f.tidalMigration
      ? ['  as a tidal migration:', ...f.tidalMigration.split('\n').map((l) => `    ${l}`)]
      : []),
  ]);
  const count = (level: string) => result.findings.filter((f) => f.level === level).length;
  lines.push(
    `${result.files.length} file(s): ${count('error')} error(s), ${count('warning')} warning(s), ${count('info')} note(s)`,
  );
  return lines.join('\n');
}

function sarif(findings: LintFinding[]): unknown {
  return {
    $schema: 'https://json.schemastore.org/sarif-2.1.0.json',
    version: '2.1.0',
    runs: [
      {
        tool: {
          driver: {
            name: 'tidal lint',
            rules: RULES.map((r) => ({
              id: r.id,
              shortDescription: { text: r.title },
              fullDescription: { text: `${r.lock ? `${r.lock}: ` : ''}${r.effect}` },
              help: { text: `${r.safe}${r.tidal ? ` With tidal: ${r.tidal}.` : ''}` },
              defaultConfiguration: { level: sarifLevel(r.level) },
            })),
          },
        },
        results: findings.map((f) => ({
          ruleId: f.rule,
          level: sarifLevel(f.level),
          message: { text: f.message },
          ...(f.tidalMigration ? { properties: { tidalMigration: f.tidalMigration } } : {}),
          locations: [
            {
              physicalLocation: {
                artifactLocation: { uri: f.file },
                region: { startLine: f.line, startColumn: f.column },
              },
            },
          ],
        })),
      },
    ],
  };
}

const sarifLevel = (level: string) => (level === 'info' ? 'note' : level);

/** The rules as a Markdown table (the README's, printed by `tidal lint --rules`). */
export function rulesTable(): string {
  const escapePipes = (text: string) => text.replaceAll('|', '\\|');
  const lines = [
    '| rule | level | lock | effect | instead | with tidal |',
    '| --- | --- | --- | --- | --- | --- |',
  ];
  for (const r of RULES) {
    lines.push(
      `| \`${r.id}\` | ${r.level} | ${r.lock ?? ''} | ${escapePipes(r.effect)} | ${escapePipes(r.safe)} | ${escapePipes(r.tidal ?? '')} |`,
    );
  }
  return lines.join('\n');
}
