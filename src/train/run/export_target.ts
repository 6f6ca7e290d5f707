// Where `tlkit export` may write. An export never lands inside a run's model/ or checkpoints/ (nor the
// model folder it reads), and replaces an existing file only when that file is an earlier tlkit export
// of the same format, unless the caller says `overwrite`.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { onnx } from '../../engines/onnx/graph_builder.js';
import { UsageError } from '../../core/errors.js';
import { assertHdf5, loadH5wasm } from '../../weights/h5.js';
import { METADATA_JSON, MODEL_JSON, WEIGHTS_BIN } from '../../weights/saved_model.js';
import { isInside, realPathOf, refuseSystemPath } from './output_path.js';
import { isRunDirectory } from './run_dir_guard.js';

export type ExportFormat = 'onnx' | 'tfjs' | 'h5' | 'web';

/** The default output: beside the model folder (RUN/model.onnx, RUN/model.h5, RUN/tfjs/, RUN/web/), never in it. */
export function defaultExportPath(modelDir: string, format: ExportFormat): string {
  return join(dirname(modelDir), format === 'onnx' ? 'model.onnx' : format === 'h5' ? 'model.h5' : format);
}

function isTlkitOnnx(path: string): boolean {
  try {
    return onnx.ModelProto.decode(readFileSync(path)).producerName === 'tlkit';
  } catch {
    return false;
  }
}

async function isTlkitH5(path: string): Promise<boolean> {
  try {
    assertHdf5(path);
    const h5 = await loadH5wasm();
    const file = new h5.File(path, 'r');
    try {
      return file.attrs['tlkit_version'] !== undefined;
    } finally {
      file.close();
    }
  } catch {
    return false;
  }
}

/** The run directory whose model/ or checkpoints/ holds `path`, if any. */
function protectedRunFolder(path: string): string | undefined {
  for (let dir = path; dirname(dir) !== dir; dir = dirname(dir)) {
    if ((basename(dir) === 'model' || basename(dir) === 'checkpoints') && isRunDirectory(dirname(dir))) return dir;
  }
  return undefined;
}

/**
 * Refuses an export target that would destroy something: inside a run's model/ or checkpoints/ or the
 * source model folder (always), a run directory itself (always), or an existing file that is not a
 * tlkit export of this format (unless `overwrite`).
 */
export async function checkExportTarget(out: string, format: ExportFormat, options: { modelDir: string; overwrite?: boolean }): Promise<void> {
  refuseSystemPath(out, '--out');
  const real = realPathOf(out);
  const inRun = protectedRunFolder(real);
  if (inRun) throw new UsageError(`--out ${out} is inside ${inRun}, part of a run: tlkit never writes there (the run's model and checkpoints would be lost); choose a path outside it`, 'out');
  const source = realPathOf(options.modelDir);
  if (isInside(real, source)) throw new UsageError(`--out ${out} is inside the model folder being exported (${options.modelDir}); choose a path outside it`, 'out');
  if (!existsSync(out)) return;
  if (isRunDirectory(out)) throw new UsageError(`--out ${out} is a run directory; choose a path for the export, e.g. ${defaultExportPath(join(out, 'model'), format)}`, 'out');
  const isDir = statSync(out).isDirectory();
  const refuse = (what: string) =>
    new UsageError(`--out ${out} ${what}; tlkit replaces only its own earlier ${format} export there: give --overwrite to replace it anyway, or choose another path`, 'out');
  if (format === 'web') {
    // The web page (serve/export_web.ts): index.html, its script, the model files beside them.
    if (!isDir) throw new UsageError(`--out ${out} is a file; --format web writes a folder`, 'out');
    const ours = existsSync(join(out, 'index.html')) && existsSync(join(out, 'tlkit-web.js'));
    const clash = ['index.html', 'tlkit-web.js', MODEL_JSON, WEIGHTS_BIN, METADATA_JSON].filter((n) => existsSync(join(out, n)));
    if (!ours && clash.length && !options.overwrite) throw refuse(`holds ${clash.join(', ')} of something that is not a tlkit web page`);
    // A page is meant to be served as a whole folder: written among unrelated files (a home folder, a
    // site, /) it would publish them beside it. Only an empty folder or an earlier page, unless --overwrite.
    const others = readdirSync(out);
    if (!ours && others.length > 0 && !options.overwrite) {
      throw refuse(`is a folder that is not empty (${others.slice(0, 3).join(', ')}${others.length > 3 ? `, ... ${others.length} entries` : ''}) and not an earlier tlkit web page`);
    }
    return;
  }
  if (format === 'tfjs') {
    if (!isDir) throw new UsageError(`--out ${out} is a file; --format tfjs writes a folder`, 'out');
    const ours = existsSync(join(out, METADATA_JSON)) && existsSync(join(out, MODEL_JSON));
    const clash = [MODEL_JSON, WEIGHTS_BIN, METADATA_JSON].filter((n) => existsSync(join(out, n)));
    if (!ours && clash.length && !options.overwrite) throw refuse(`holds ${clash.join(', ')} of something that is not a tlkit model`);
    return;
  }
  if (isDir) throw new UsageError(`--out ${out} is a folder; --format ${format} writes a file`, 'out');
  const ours = format === 'onnx' ? isTlkitOnnx(out) : await isTlkitH5(out);
  if (!ours && !options.overwrite) throw refuse(`exists and is not a tlkit ${format === 'onnx' ? 'ONNX' : '.h5'} export`);
}
