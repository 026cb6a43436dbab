/**
 * drizzle-kit's real output: the SQL its generator writes between two Drizzle schema modules
 * (test/fixtures/drizzle-kit/generate.mjs). drizzle-kit asks on a terminal whether a column that
 * went away and one that came are a rename; this runs it under one (`script`) and answers each
 * such question "rename", as a developer would, with the arrow key and Enter.
 */
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { stripVTControlCharacters } from 'node:util';

const GENERATE = fileURLToPath(new URL('../fixtures/drizzle-kit/generate.mjs', import.meta.url));
const QUESTION = /Is (.+?) created or renamed from another [a-z]+\?/g;
const RESULT = /TIDAL-DRIZZLE-SQL (\[.*\])/;
const DOWN = '\u001b[B';

/** The statements drizzle-kit writes to go from schema module `before` to `after`. */
export function drizzleKitSql(before: string, after: string): Promise<string[]> {
  return new Promise((resolve, reject) => {
    const command = [process.execPath, GENERATE, before, after].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qfec', command, '/dev/null'], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    const answered = new Set<string>();
    let output = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`drizzle-kit did not finish; it printed:\n${output}`));
    }, 60_000);
    child.stdout.on('data', (chunk: Buffer) => {
      output += chunk.toString('utf8');
      // Colour and cursor codes split the words: match on the text alone.
      const text = stripVTControlCharacters(output);
      for (const [, question] of text.matchAll(QUESTION)) {
        if (!question || answered.has(question)) continue;
        answered.add(question);
        // The first choice creates; the one after it renames.
        child.stdin.write(DOWN);
        setTimeout(() => child.stdin.write('\r'), 200);
      }
    });
    child.on('error', reject);
    child.on('exit', (code) => {
      clearTimeout(timer);
      const found = RESULT.exec(output.replace(/\r/g, ''));
      if (code === 0 && found?.[1]) resolve(JSON.parse(found[1]) as string[]);
      else reject(new Error(`drizzle-kit exited ${code}; it printed:\n${output}`));
    });
  });
}
