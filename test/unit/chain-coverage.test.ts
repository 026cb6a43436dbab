/**
 * The own chain (test/fixtures/chain) uses every operation kind and every field of the format.
 * The fields are read off the zod schema of the format (src/migration/schema.ts), so a field
 * added there fails this test until the chain uses it; the uses are read off the chain's files
 * as written. A field counts as used when a file gives it a value other than its default:
 * writing a default out says nothing the loader would not fill in.
 */
import { isDeepStrictEqual } from 'node:util';
import { describe, expect, test } from 'vitest';
import { parse } from 'yaml';
import { z } from 'zod';
import {
  migrationFileSchema,
  operationKinds,
  operationOptionSchemas,
} from '../../src/migration/schema.js';
import { loadChain, OWN_CHAIN_DIR } from '../helpers/chains.js';

/** Fields no file of the chain can use on a real database, each with the reason. */
const NOT_IN_CHAIN: Record<string, string> = {
  'add_column.column.pk':
    'tidal refuses a primary key column in add_column before anything runs (add the column, then create_constraint with type primary_key)',
};

/** A field's path (`create_table.columns[].name`) and its default, if it has one. */
type Fields = Map<string, { default?: unknown }>;

/** The object fields under `schema`, found through optional, nullable, default and array
 *  wrappers; `up` and `down` maps of column names are fields themselves. */
function fieldsOf(schema: z.ZodType, prefix: string, into: Fields): Fields {
  const { inner } = unwrap(schema);
  if (inner instanceof z.ZodArray) return fieldsOf(inner.element as z.ZodType, `${prefix}[]`, into);
  if (!(inner instanceof z.ZodObject)) return into;
  for (const [key, child] of Object.entries(inner.shape as Record<string, z.ZodType>)) {
    const path = `${prefix}.${key}`;
    const { default: value, hasDefault } = unwrap(child);
    into.set(path, hasDefault ? { default: value } : {});
    fieldsOf(child, path, into);
  }
  return into;
}

function unwrap(schema: z.ZodType): { inner: z.ZodType; hasDefault: boolean; default?: unknown } {
  if (schema instanceof z.ZodDefault) {
    return {
      ...unwrap(schema.unwrap() as z.ZodType),
      hasDefault: true,
      default: schema.def.defaultValue,
    };
  }
  if (schema instanceof z.ZodOptional || schema instanceof z.ZodNullable) {
    return unwrap(schema.unwrap() as z.ZodType);
  }
  return { inner: schema, hasDefault: false };
}

/** Every operation kind, and every field of the format, top level included. */
function formatFields(): Fields {
  const fields: Fields = new Map();
  for (const key of ['name', 'version_schema']) fields.set(key, {});
  for (const kind of operationKinds) {
    fields.set(kind, {});
    fieldsOf(operationOptionSchemas[kind], kind, fields);
  }
  return fields;
}

/** The paths `value` sets to something other than its field's default, under `prefix`. */
function usedIn(value: unknown, prefix: string, fields: Fields, used: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) usedIn(item, `${prefix}[]`, fields, used);
    return;
  }
  if (typeof value !== 'object' || value === null) return;
  for (const [key, child] of Object.entries(value)) {
    const path = prefix ? `${prefix}.${key}` : key;
    const field = fields.get(path);
    if (!field) continue; // a column name of an up or down map
    if (!('default' in field) || !isDeepStrictEqual(child, field.default)) used.add(path);
    usedIn(child, path, fields, used);
  }
}

const fields = formatFields();
const chain = await loadChain(OWN_CHAIN_DIR);
const used = new Set<string>();
for (const { content } of chain) {
  const { operations, ...top } = parse(content) as { operations: Record<string, unknown>[] };
  usedIn(top, '', fields, used);
  for (const operation of operations) usedIn(operation, '', fields, used);
}

describe('the own chain covers the format', () => {
  test('the format is read off the zod schema, nested fields and defaults included', () => {
    // If the walk stopped at the top, every check below would pass on nothing.
    expect(Object.keys(migrationFileSchema.shape)).toEqual([
      'name',
      'version_schema',
      'operations',
    ]);
    expect(fields.get('create_index.columns[].opclass.params')).toEqual({});
    expect(fields.get('create_table.constraints[].references.on_delete_set_columns')).toEqual({});
    expect(fields.get('create_index.method')).toEqual({ default: 'btree' });
    expect(fields.get('sql.onComplete')).toEqual({ default: false });
    expect(fields.size).toBeGreaterThan(150);
  });

  test('every operation kind is used', () => {
    expect(operationKinds.filter((kind) => !used.has(kind))).toEqual([]);
  });

  test('every field is given a value other than its default, but the listed exceptions', () => {
    expect([...fields.keys()].filter((path) => !used.has(path) && !NOT_IN_CHAIN[path])).toEqual([]);
  });

  test('each exception is a field of the format the chain leaves out', () => {
    for (const path of Object.keys(NOT_IN_CHAIN)) {
      expect(fields.has(path), path).toBe(true);
      expect(used.has(path), path).toBe(false);
    }
  });
});
