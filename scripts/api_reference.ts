// The API reference, generated from the types: every name src/index.ts exports, with its kind, its
// signature or shape as the TypeScript compiler prints it, and its doc comment, grouped by the module
// that defines it. `npm run docs:api` writes docs/api.md; test/package/api_reference.test.ts fails when
// index.ts and docs/api.md disagree on the names.
import ts from 'typescript';
import { writeFileSync } from 'node:fs';
import { relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
export const INDEX = fileURLToPath(new URL('../src/index.ts', import.meta.url));
export const API_MD = fileURLToPath(new URL('../docs/api.md', import.meta.url));

export type ApiKind = 'function' | 'class' | 'interface' | 'type' | 'const' | 'namespace' | 'enum';

export interface ApiEntry {
  name: string;
  kind: ApiKind;
  /** Exists at run time (function, class, const, namespace, enum) or erased (interface, type). */
  value: boolean;
  /** The defining file, relative to src/. */
  module: string;
  /** TypeScript text: signatures, members or the aliased type. */
  declaration: string;
  doc: string;
}

const PRINT = ts.TypeFormatFlags.NoTruncation | ts.TypeFormatFlags.UseAliasDefinedOutsideCurrentScope;

function kindOf(symbol: ts.Symbol): ApiKind {
  const f = symbol.flags;
  if (f & ts.SymbolFlags.Class) return 'class';
  if (f & ts.SymbolFlags.Function) return 'function';
  if (f & ts.SymbolFlags.Enum) return 'enum';
  if (f & ts.SymbolFlags.Variable) return 'const';
  if (f & (ts.SymbolFlags.ValueModule | ts.SymbolFlags.NamespaceModule)) return 'namespace';
  if (f & ts.SymbolFlags.Interface) return 'interface';
  return 'type';
}

function docOf(symbol: ts.Symbol, checker: ts.TypeChecker): string {
  return ts.displayPartsToString(symbol.getDocumentationComment(checker)).trim();
}

function members(type: ts.Type, checker: ts.TypeChecker, at: ts.Node): string {
  const lines: string[] = [];
  for (const property of checker.getPropertiesOfType(type)) {
    const optional = (property.flags & ts.SymbolFlags.Optional) !== 0;
    const doc = docOf(property, checker).split('\n')[0];
    let text = checker.typeToString(checker.getTypeOfSymbolAtLocation(property, at), at, PRINT);
    // Optional members print with `| undefined` under strict; the `?` says it already.
    if (optional) text = text.replace(/^\((.*)\) \| undefined$/, '$1').replace(/ \| undefined$/, '');
    lines.push(`  ${property.getName()}${optional ? '?' : ''}: ${text};${doc ? ` // ${doc}` : ''}`);
  }
  return lines.join('\n');
}

function declarationOf(name: string, kind: ApiKind, symbol: ts.Symbol, checker: ts.TypeChecker): string {
  const node = symbol.declarations?.[0];
  if (!node) return '';
  const type = checker.getTypeOfSymbolAtLocation(symbol, node);
  switch (kind) {
    case 'function':
      return type.getCallSignatures().map((s) => `function ${name}${checker.signatureToString(s, node, PRINT)}`).join('\n');
    case 'class': {
      const constructors = type.getConstructSignatures().map((s) => `new ${name}${checker.signatureToString(s, node, PRINT).replace(/: [^:]*$/, '')}`);
      const instance = checker.getDeclaredTypeOfSymbol(symbol);
      const methods = checker
        .getPropertiesOfType(instance)
        .filter((p) => !p.getName().startsWith('_') && !(ts.getCombinedModifierFlags(p.valueDeclaration ?? node) & (ts.ModifierFlags.Private | ts.ModifierFlags.Protected)))
        .map((p) => `  ${p.getName()}: ${checker.typeToString(checker.getTypeOfSymbolAtLocation(p, node), node, PRINT)};`);
      return [...constructors, `class ${name} {`, ...methods, '}'].join('\n');
    }
    case 'interface':
      return `interface ${name} {\n${members(checker.getDeclaredTypeOfSymbol(symbol), checker, node)}\n}`;
    case 'type': {
      const aliased = ts.isTypeAliasDeclaration(node) ? node.type.getText() : checker.typeToString(checker.getDeclaredTypeOfSymbol(symbol), node, PRINT);
      return `type ${name} = ${aliased}`;
    }
    case 'const':
      return `const ${name}: ${checker.typeToString(type, node, PRINT)}`;
    case 'namespace':
      if (node.getSourceFile().fileName.includes('/node_modules/')) return `import * as ${name} from '${packageOf(node.getSourceFile().fileName)}'`;
      return `namespace ${name} { ${checker.getExportsOfModule(symbol).map((s) => s.getName()).sort().join(', ')} }`;
    case 'enum':
      return `enum ${name}`;
  }
}

/** '@tensorflow/tfjs-core' for a file under node_modules/@tensorflow/tfjs-core/. */
function packageOf(file: string): string {
  const parts = file.split('/node_modules/').at(-1)!.split('/');
  return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
}

/** Every export of src/index.ts, sorted by module then name. */
export function apiEntries(): ApiEntry[] {
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
  if (!moduleSymbol) throw new Error(`TypeScript could not read ${INDEX}`);
  const entries = checker.getExportsOfModule(moduleSymbol).map((exported): ApiEntry => {
    const symbol = exported.flags & ts.SymbolFlags.Alias ? checker.getAliasedSymbol(exported) : exported;
    const name = exported.getName();
    const kind = kindOf(symbol);
    const file = symbol.declarations?.[0]?.getSourceFile().fileName ?? INDEX;
    return {
      name,
      kind,
      value: (symbol.flags & ts.SymbolFlags.Value) !== 0,
      module: file.includes('/node_modules/') ? packageOf(file) : relative(`${ROOT}src`, file).replaceAll('\\', '/'),
      declaration: declarationOf(name, kind, symbol, checker),
      doc: docOf(symbol, checker),
    };
  });
  return entries.sort((a, b) => a.module.localeCompare(b.module) || a.name.localeCompare(b.name));
}

/** The names docs/api.md documents: its `### \`name\`` headings. */
export function documentedNames(markdown: string): string[] {
  return [...markdown.matchAll(/^### `([^`]+)`/gm)].map((m) => m[1]!);
}

export function renderApiMarkdown(entries: ApiEntry[]): string {
  const out = [
    '# tlkit API reference',
    '',
    "Everything `import { ... } from 'tlkit'` offers, generated from the types by `npm run docs:api`",
    '(scripts/api_reference.ts); grouped by the module that defines it. Guides and examples: README.md.',
    '',
  ];
  let module = '';
  for (const e of entries) {
    if (e.module !== module) {
      module = e.module;
      out.push(`## ${module.replace(/\.ts$/, '')}`, '');
    }
    out.push(`### \`${e.name}\``, '', e.kind, '');
    if (e.doc) out.push(e.doc, '');
    if (e.declaration) out.push('```ts', e.declaration, '```', '');
  }
  return `${out.join('\n').trimEnd()}\n`;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const entries = apiEntries();
  writeFileSync(API_MD, renderApiMarkdown(entries));
  process.stdout.write(`${API_MD}: ${entries.length} names\n`);
}
