/** Problems found in a migration file, and the InputError that reports them. */
import type { z } from 'zod';
import { InputError } from '../errors.js';

export type Path = readonly PropertyKey[];

/** One thing wrong with a migration file, at a field path such as operations[2].add_column.up. */
export interface Problem {
  path: Path;
  message: string;
}

/** Reported in full; a file with more problems is rarely fixed from the rest. */
const MAX_REPORTED = 5;

/** `operations[2].add_column.column.type`; keys that are not plain words are quoted. */
export function formatPath(path: Path): string {
  let text = '';
  for (const key of path) {
    if (typeof key === 'number') text += `[${key}]`;
    else if (typeof key === 'string' && /^[A-Za-z_][A-Za-z0-9_]*$/.test(key)) {
      text += text === '' ? key : `.${key}`;
    } else text += `[${JSON.stringify(String(key))}]`;
  }
  return text;
}

/** A migration file's problems: one line per problem in the message, each naming the file and
 *  the field, and the problems themselves for output that lists them (`tidal validate --json`). */
export class MigrationFileError extends InputError {
  constructor(
    readonly file: string,
    readonly problems: readonly Problem[],
  ) {
    const lines = problems.slice(0, MAX_REPORTED).map(({ path, message }) => {
      const where = formatPath(path);
      return where === '' ? `${file}: ${message}` : `${file}: ${where}: ${message}`;
    });
    if (problems.length > MAX_REPORTED) {
      lines.push(`${file}: and ${problems.length - MAX_REPORTED} more problems`);
    }
    super(lines.join('\n'));
  }
}

/** One line per problem, each naming the file and the field. */
export function problemsError(file: string, problems: readonly Problem[]): InputError {
  return new MigrationFileError(file, problems);
}

/** Zod issues as problems, with messages phrased for someone editing the file. */
export function zodProblems(error: z.ZodError, input: unknown): Problem[] {
  return error.issues.map((issue) => ({ path: issue.path, message: issueMessage(issue, input) }));
}

function issueMessage(issue: z.core.$ZodIssue, input: unknown): string {
  const value = valueAt(input, issue.path);
  switch (issue.code) {
    case 'invalid_type': {
      if (value === undefined) return 'required field missing';
      const hint =
        issue.expected === 'string' && (typeof value === 'number' || typeof value === 'boolean')
          ? ' (put it in quotes to make it a string)'
          : '';
      return `expected ${expectedType(issue.expected)}, got ${describe(value)}${hint}`;
    }
    case 'invalid_value':
      return `expected one of ${issue.values.map(String).join(', ')}, got ${describe(value)}`;
    default:
      return issue.message;
  }
}

function expectedType(expected: string): string {
  switch (expected) {
    case 'string':
      return 'a string';
    case 'boolean':
      return 'true or false';
    case 'array':
      return 'a list';
    case 'object':
    case 'record':
      return 'an object';
    default:
      return expected;
  }
}

function describe(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'an object';
  if (typeof value === 'string') {
    return JSON.stringify(value.length > 40 ? `${value.slice(0, 40)}...` : value);
  }
  return String(value);
}

function valueAt(input: unknown, path: Path): unknown {
  let value = input;
  for (const key of path) {
    if (typeof value !== 'object' || value === null) return undefined;
    value = (value as Record<PropertyKey, unknown>)[key];
  }
  return value;
}
