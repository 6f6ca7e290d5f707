// `tlkit models`: the backbone registry as a table (or JSON).
import type { Command } from '../command.js';
import { parseFlags } from '../args.js';
import { UsageError } from '../../core/errors.js';
import type { BackboneDefinition } from '../../models/types.js';
import { weightsNamesFor } from '../../weights/catalog.js';

const usage = `Usage: tlkit models [--json]

Lists the backbones tlkit can build: registry id, Keras application, default and minimum input size,
preprocessing mode, width multipliers (alpha) and the pretrained weights available.

Options:
  --json   print the list as JSON`;

export interface BackboneListing {
  id: string;
  kerasName: string;
  kerasModule: string;
  defaultInputSize: number;
  minInputSize: number;
  preprocess: string;
  alphas: number[] | null;
  weights: string[];
  description: string;
}

/** Pretrained weights per backbone: 'imagenet', offline sources (nsfwjs), 'none'; see src/weights/catalog.ts. */
function weightsOf(definition: BackboneDefinition): string[] {
  return weightsNamesFor(definition.id);
}

export function listing(definition: BackboneDefinition): BackboneListing {
  return {
    id: definition.id,
    kerasName: definition.kerasName,
    kerasModule: definition.kerasModule,
    defaultInputSize: definition.defaultInputSize,
    minInputSize: definition.minInputSize,
    preprocess: definition.preprocess,
    alphas: definition.alphas ? [...definition.alphas] : null,
    weights: weightsOf(definition),
    description: definition.description,
  };
}

function formatAlpha(a: number): string {
  return Number.isInteger(a) ? a.toFixed(1) : String(a);
}

export function formatTable(rows: string[][]): string {
  const widths = rows[0].map((_, i) => Math.max(...rows.map((r) => r[i].length)));
  return rows.map((r) => r.map((c, i) => c.padEnd(widths[i])).join('  ').trimEnd()).join('\n');
}

export const modelsCommand: Command = {
  name: 'models',
  summary: 'list the backbones (Keras applications) tlkit can build',
  usage,
  async run(argv, io) {
    const { values, positionals } = parseFlags(argv, { json: { type: 'boolean' } }, usage);
    if (positionals.length > 0) {
      throw new UsageError(`tlkit models takes no arguments; got '${positionals.join(' ')}'\n\n${usage}`);
    }
    const { listBackbones } = await import('../../models/zoo.js');
    const rows = listBackbones().map(listing);
    if (values.json) {
      io.stdout.write(JSON.stringify(rows, null, 2) + '\n');
      return 0;
    }
    const table = [
      ['id', 'Keras name', 'input', 'min input', 'preprocess', 'alphas', 'weights'],
      ...rows.map((r) => [
        r.id,
        r.kerasName,
        `${r.defaultInputSize}x${r.defaultInputSize}`,
        `${r.minInputSize}x${r.minInputSize}`,
        r.preprocess,
        r.alphas ? r.alphas.map(formatAlpha).join(', ') : '-',
        r.weights.join(', '),
      ]),
    ];
    io.stdout.write(formatTable(table) + '\n');
    return 0;
  },
};
