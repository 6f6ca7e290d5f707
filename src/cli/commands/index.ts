// Every CLI command, in the order `tlkit --help` lists them. Each module exports one Command.
import type { Command } from '../command.js';
// command-imports: one import per command file below this line
import { dataCommand } from './data.js';
import { auditCommand } from './audit.js';
import { augmentCommand } from './augment.js';
import { trainCommand } from './train.js';
import { evaluateCommand } from './evaluate.js';
import { predictCommand } from './predict.js';
import { explainCommand } from './explain.js';
import { modelsCommand } from './models.js';
import { summaryCommand } from './summary.js';
import { exportCommand } from './export.js';
import { compareCommand } from './compare.js';
import { serveCommand } from './serve.js';
import { workerCommand } from './worker.js';
import { statusCommand } from './status.js';
import { cacheCommand } from './cache.js';

export const commands: Command[] = [
  // command-list: one entry per command below this line
  dataCommand,
  auditCommand,
  augmentCommand,
  modelsCommand,
  summaryCommand,
  trainCommand,
  compareCommand,
  workerCommand,
  statusCommand,
  evaluateCommand,
  predictCommand,
  explainCommand,
  exportCommand,
  serveCommand,
  cacheCommand,
];
