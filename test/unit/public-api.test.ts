/**
 * The package's types: every type a public method of `Tidal` takes or returns, and every type
 * those name in turn, is exported from src/index.ts, so a user can name what tidal gives them.
 */
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, expectTypeOf, it } from 'vitest';
import type {
  BackfillControlResult,
  BackfillRequest,
  LatestMigration,
  LoadedMigration,
  MigrationRecord,
  MigrationStatus,
  PlannedMigration,
  Tidal,
  TidalOptions,
} from '../../src/index.js';

const SRC = fileURLToPath(new URL('../../src/', import.meta.url));
const INDEX = `${SRC}index.ts`;

/** Types reached but not exported, and why. */
const NOT_EXPORTED: Record<string, string> = {
  OptionsByKind: 'private to migration/schema.ts; users name it as OperationOptions<K>',
};

/** The project's named types (and values a type names with `typeof`) that `Tidal`'s public
 *  methods reach, each with whether src/index.ts exports it. */
function reachedFromTidal(): { reached: Map<string, boolean>; unannotated: string[] } {
  const program = ts.createProgram([INDEX], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    types: ['node'],
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const resolve = (symbol: ts.Symbol) =>
    symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
  const index = program.getSourceFile(INDEX);
  const moduleSymbol = index && checker.getSymbolAtLocation(index);
  if (!moduleSymbol) throw new Error('src/index.ts is not a module');
  const exported = new Set(checker.getExportsOfModule(moduleSymbol).map(resolve));

  const reached = new Map<string, boolean>();
  const unannotated: string[] = [];
  const visited = new Set<ts.Symbol>();
  const inProject = (d: ts.Declaration) => d.getSourceFile().fileName.startsWith(SRC);

  const visitName = (name: ts.EntityName | ts.Expression) => {
    const found = checker.getSymbolAtLocation(name);
    if (!found) return;
    const symbol = resolve(found);
    if (symbol.flags & ts.SymbolFlags.TypeParameter) return;
    const declarations = (symbol.declarations ?? []).filter(inProject);
    if (declarations.length === 0 || visited.has(symbol)) return;
    visited.add(symbol);
    reached.set(symbol.name, exported.has(symbol));
    for (const d of declarations) visitDeclaration(d);
  };

  /** Walks the types a declaration names: a type's whole text, a class's public surface. */
  const visitDeclaration = (declaration: ts.Node) => {
    if (ts.isClassDeclaration(declaration)) {
      for (const member of declaration.members) {
        const modifiers = ts.canHaveModifiers(member) ? (ts.getModifiers(member) ?? []) : [];
        const hidden = modifiers.some(
          (m) =>
            m.kind === ts.SyntaxKind.PrivateKeyword || m.kind === ts.SyntaxKind.ProtectedKeyword,
        );
        if (hidden || ts.isConstructorDeclaration(member)) continue;
        if (ts.isMethodDeclaration(member) && !member.type)
          unannotated.push(`${declaration.name?.text}.${member.name.getText()}`);
        visitTypes(member);
      }
      return;
    }
    if (ts.isVariableDeclaration(declaration)) {
      if (declaration.type) visitTypes(declaration.type);
      return;
    }
    visitTypes(declaration);
  };

  /** Every type named inside `node`, outside function bodies and initialisers. */
  const visitTypes = (node: ts.Node): void => {
    if (ts.isTypeReferenceNode(node)) visitName(node.typeName);
    else if (ts.isExpressionWithTypeArguments(node)) visitName(node.expression);
    // `typeof value` names a value, which a user need not name to use the type: not followed.
    else if (ts.isTypeQueryNode(node)) return;
    ts.forEachChild(node, (child) => {
      if (ts.isBlock(child)) return;
      if ((ts.isPropertyDeclaration(node) || ts.isParameter(node)) && child === node.initializer)
        return;
      visitTypes(child);
    });
  };

  const tidal = checker.getExportsOfModule(moduleSymbol).find((s) => s.name === 'Tidal');
  const declaration = tidal && resolve(tidal).declarations?.find(ts.isClassDeclaration);
  if (!declaration?.name) throw new Error('src/index.ts does not export the class Tidal');
  visitName(declaration.name);
  return { reached, unannotated };
}

describe("the public API's types", () => {
  const { reached, unannotated } = reachedFromTidal();

  it('walks what the methods of Tidal name', () => {
    // The walk itself finds the types the methods are known to use.
    for (const name of ['Tidal', 'TidalOptions', 'TidalEvent', 'MigrationRecord', 'PlanReport'])
      expect(reached.has(name), name).toBe(true);
    for (const name of ['MigrationPlan', 'StepEvent', 'BackfillProgress', 'Step', 'Obligation'])
      expect(reached.has(name), name).toBe(true);
    expect(unannotated).toEqual([]);
  });

  it('exports every type they reach from src/index.ts', () => {
    const missing = [...reached]
      .filter(([name, isExported]) => !isExported && !(name in NOT_EXPORTED))
      .map(([name]) => name);
    expect(missing.sort()).toEqual([]);
    // An exception no longer needed goes.
    for (const name of Object.keys(NOT_EXPORTED)) expect(reached.get(name), name).toBe(false);
  });

  it('gives the methods the exported types', () => {
    expectTypeOf<typeof Tidal.connect>().parameter(0).toEqualTypeOf<TidalOptions | undefined>();
    expectTypeOf<Tidal['start']>().parameter(0).toEqualTypeOf<LoadedMigration>();
    expectTypeOf<Tidal['start']>().returns.resolves.toEqualTypeOf<MigrationRecord>();
    expectTypeOf<Tidal['complete']>().returns.resolves.toEqualTypeOf<MigrationRecord>();
    expectTypeOf<Tidal['rollback']>().returns.resolves.toEqualTypeOf<MigrationRecord>();
    expectTypeOf<Tidal['plan']>().returns.resolves.toEqualTypeOf<PlannedMigration>();
    expectTypeOf<Tidal['status']>().returns.resolves.toEqualTypeOf<MigrationStatus>();
    expectTypeOf<Tidal['latest']>().returns.resolves.toEqualTypeOf<LatestMigration | undefined>();
    expectTypeOf<Tidal['backfill']>().parameter(0).toEqualTypeOf<BackfillRequest>();
    expectTypeOf<Tidal['backfill']>().returns.resolves.toEqualTypeOf<BackfillControlResult>();
  });
});
