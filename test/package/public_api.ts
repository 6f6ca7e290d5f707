// The names src/index.ts exports, as the TypeScript compiler sees them (so `export *` and re-exports
// count), each marked value or type-only.
import ts from 'typescript';
import { fileURLToPath } from 'node:url';

export const INDEX = fileURLToPath(new URL('../../src/index.ts', import.meta.url));

export interface ExportedName {
  name: string;
  /** 'value': exists at run time (function, class, const, namespace); 'type': erased (interface, type alias). */
  kind: 'value' | 'type';
}

let cached: ExportedName[] | undefined;

export function publicApi(): ExportedName[] {
  if (cached) return cached;
  const program = ts.createProgram([INDEX], {
    target: ts.ScriptTarget.ES2022,
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    strict: true,
    skipLibCheck: true,
    noEmit: true,
  });
  const checker = program.getTypeChecker();
  const source = program.getSourceFile(INDEX);
  const moduleSymbol = source && checker.getSymbolAtLocation(source);
  if (!moduleSymbol) throw new Error(`TypeScript could not read the module ${INDEX}`);
  cached = checker
    .getExportsOfModule(moduleSymbol)
    .map((symbol) => {
      const target = symbol.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(symbol) : symbol;
      const kind: ExportedName['kind'] = target.flags & ts.SymbolFlags.Value ? 'value' : 'type';
      return { name: symbol.getName(), kind };
    })
    .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  return cached;
}
