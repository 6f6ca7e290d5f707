// Keras's flow_from_directory listing: classes are the sorted sub-folder names (unless given), files are
// found recursively (walk order: folders sorted by path, files sorted within each), filtered by Keras's
// extensions case-insensitively; validationSplit takes the first fraction of each class's files.
// Unlike Keras, on purpose: hidden entries (names starting with '.') are left out and counted. Keras makes
// a Jupyter `.ipynb_checkpoints` folder a class (shifting every class index) and trains on the checkpoint
// copies inside class folders; macOS's `._name.jpg` AppleDouble files match the extensions and are not images.
// A hidden folder named in `classes` is still read.
// Synchronous like Keras, so flowFromDirectory can return its iterator directly.
import { existsSync, readdirSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { join, relative, resolve, sep } from 'node:path';
import { DataError, FileError, invalidArgument } from '../core/errors.js';

export const IMAGE_EXTENSIONS = ['png', 'jpg', 'jpeg', 'bmp', 'ppm', 'tif', 'tiff'] as const;

export type Subset = 'training' | 'validation';

export interface ScanOptions {
  /** Class folder names in label order; default: every sub-folder, sorted. */
  classes?: string[];
  followLinks?: boolean;
  /** Fraction in (0, 1) held out for validation; with `subset`. */
  validationSplit?: number;
  subset?: Subset | null;
  /**
   * Files left out, as 'class/name' relative to the directory (an audit's CSV read by readExcludeList).
   * Applied after the validation split, so the held-out subset keeps the same files minus these.
   */
  exclude?: Iterable<string>;
  /**
   * A class of `classes` with no folder, or no images in it, gets none (its count is 0) instead of an
   * error: a test folder that holds some of a model's classes only. At least one image is still needed.
   * Default false (training needs every class).
   */
  allowEmptyClasses?: boolean;
}

export interface DirectoryListing {
  directory: string;
  classNames: string[];
  classIndices: Record<string, number>;
  /** Paths relative to `directory`, 'class/sub/file.jpg', in listing order. */
  filenames: string[];
  filepaths: string[];
  classes: Int32Array;
  /** Files per class in this subset. */
  counts: number[];
  /** Files of this subset left out by `exclude` ('class/name'). */
  excluded: string[];
  /** Hidden files and folders (names starting with '.') left out, over the data folder and every class folder. */
  hidden: number;
  /** With `classes` given: the other (not hidden) sub-folders of the directory, left out, sorted. */
  otherFolders: string[];
  /**
   * Files in the class folders left out for their extension (not one of IMAGE_EXTENSIONS), counted by
   * lowercased extension with its dot ('.webp', '.txt'; '' for none). Hidden files are in `hidden` instead.
   */
  otherFiles: Record<string, number>;
}

/** What a walk leaves out: hidden entries, and files by extension. */
interface WalkTally {
  hidden: number;
  otherFiles: Record<string, number>;
}

/** The lowercased extension of a file name with its dot ('.jpg'), or '' when it has none. */
export function extensionOf(name: string): string {
  const dot = name.lastIndexOf('.');
  return dot <= 0 ? '' : name.slice(dot).toLowerCase();
}

/** `.webp 3, .txt 1`: a tally of `otherFiles`, largest first; '(no extension)' for ''. */
export function describeOtherFiles(otherFiles: Record<string, number>): string {
  return Object.entries(otherFiles)
    .sort((a, b) => b[1] - a[1] || codePointCompare(a[0], b[0]))
    .map(([ext, n]) => `${ext === '' ? '(no extension)' : ext} ${n}`)
    .join(', ');
}

/**
 * Image formats that Keras's extensions leave out, worth a hint when a folder holds them (tlkit decodes WebP
 * and GIF, which predict and explain read from folders; the others not at all).
 */
const UNREAD_IMAGE_EXTENSIONS = ['.webp', '.gif', '.avif', '.heic', '.heif', '.jfif', '.jxl'];

function unreadImageFormats(otherFiles: Record<string, number>): string[] {
  return UNREAD_IMAGE_EXTENSIONS.filter((ext) => otherFiles[ext]);
}

/** The two tallies of `otherFiles` added up (a training and a validation folder). */
export function addOtherFiles(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const total = { ...a };
  for (const [ext, n] of Object.entries(b)) total[ext] = (total[ext] ?? 0) + n;
  return total;
}

/** The log line for files left out for their extension, with a hint for image formats; undefined when there are none. */
export function otherFilesNote(otherFiles: Record<string, number>): string | undefined {
  const count = Object.values(otherFiles).reduce((a, b) => a + b, 0);
  if (count === 0) return undefined;
  const images = unreadImageFormats(otherFiles);
  const hint = images.length > 0 ? `; ${images.join(', ')} images are not read (Keras's extensions: ${IMAGE_EXTENSIONS.join(', ')}): convert them to PNG or JPEG to use them` : '';
  return `ignored ${count} file${count === 1 ? '' : 's'} in the class folders by extension (${describeOtherFiles(otherFiles)})${hint}`;
}

/** A hidden file or folder (.ipynb_checkpoints, .DS_Store, ._photo.jpg...): never data. */
export function isHiddenName(name: string): boolean {
  return name.startsWith('.');
}

function codePointCompare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function isImageName(name: string): boolean {
  return (IMAGE_EXTENSIONS as readonly string[]).includes(extensionOf(name).slice(1));
}

function isDirectory(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

/** Like os.walk + sorted(): every folder's image files, folders visited in sorted path order; hidden entries and other files counted in `tally`, not walked. */
function walkImages(top: string, followLinks: boolean, tally: WalkTally): string[] {
  const filesByFolder = new Map<string, string[]>();
  const stack = [top];
  const seen = new Set<string>();
  while (stack.length) {
    const folder = stack.pop()!;
    let entries;
    try {
      entries = readdirSync(folder, { withFileTypes: true });
    } catch (error) {
      throw new FileError(folder, `cannot list folder (${(error as Error).message})`);
    }
    const names: string[] = [];
    for (const e of entries) {
      const path = join(folder, e.name);
      if (isHiddenName(e.name)) {
        tally.hidden++;
        continue;
      }
      if (e.isDirectory()) stack.push(path);
      else if (e.isSymbolicLink() && isDirectory(path)) {
        if (!followLinks) continue;
        // A link loop would walk forever; the real path identifies it.
        let real: string;
        try {
          real = realpathSync(path);
        } catch {
          continue;
        }
        if (seen.has(real)) continue;
        seen.add(real);
        stack.push(path);
      } else if (isImageName(e.name)) {
        // Files, links to files and broken links count as files (os.walk lists them so).
        names.push(e.name);
      } else {
        const ext = extensionOf(e.name);
        tally.otherFiles[ext] = (tally.otherFiles[ext] ?? 0) + 1;
      }
    }
    filesByFolder.set(folder, names.sort(codePointCompare));
  }
  const files: string[] = [];
  for (const folder of [...filesByFolder.keys()].sort(codePointCompare)) {
    for (const name of filesByFolder.get(folder)!) files.push(join(folder, name));
  }
  return files;
}

/** A class is a folder directly inside the data folder: its name cannot climb out or go deeper. */
export function isPlainFolderName(name: string): boolean {
  return typeof name === 'string' && name !== '' && name !== '.' && name !== '..' && !/[\\/\0]/.test(name);
}

export function checkValidationSplit(value: unknown): number {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0 || value >= 1) {
    throw invalidArgument('validationSplit', value, 'a number in [0, 1) (0 = no split)');
  }
  return value;
}

export function scanDirectory(directory: string, options: ScanOptions = {}): DirectoryListing {
  const dir = resolve(directory);
  if (!existsSync(dir)) throw new FileError(dir, 'directory not found');
  if (!isDirectory(dir)) throw new FileError(dir, 'not a directory (flowFromDirectory expects a folder with one sub-folder per class)');
  const split = checkValidationSplit(options.validationSplit ?? 0);
  const tally: WalkTally = { hidden: 0, otherFiles: {} };
  const subset = options.subset ?? null;
  if (subset !== null && subset !== 'training' && subset !== 'validation') throw invalidArgument('subset', subset, "'training', 'validation' or null");
  if (subset !== null && split === 0) throw invalidArgument('subset', subset, 'null unless validationSplit is set (> 0)');
  let classNames: string[];
  let otherFolders: string[] = [];
  if (options.classes && options.classes.length > 0) {
    classNames = [...options.classes];
    const dup = classNames.find((c, i) => classNames.indexOf(c) !== i);
    if (dup !== undefined) throw invalidArgument('classes', options.classes, 'distinct class names');
    const notPlain = classNames.find((c) => !isPlainFolderName(c));
    if (notPlain !== undefined) throw invalidArgument('classes', options.classes, `plain folder names inside ${dir} (not '', '.', '..', nor with '/' or '\\'); got ${JSON.stringify(notPlain)}`);
    for (const c of classNames) {
      if (!options.allowEmptyClasses && !isDirectory(join(dir, c))) throw new DataError(`class '${c}' has no folder ${join(dir, c)}`);
    }
    const listed = new Set(classNames);
    otherFolders = classFolders(dir)
      .map((e) => e.name)
      .filter((name) => !isHiddenName(name) && !listed.has(name))
      .sort(codePointCompare);
  } else {
    const folders = classFolders(dir);
    classNames = folders.map((e) => e.name).filter((name) => !isHiddenName(name)).sort(codePointCompare);
    tally.hidden += folders.length - classNames.length;
    if (classNames.length === 0) {
      throw new DataError(`${dir}: no class folders; flowFromDirectory expects one sub-folder per class (e.g. ${join(dir, 'cats')}, ${join(dir, 'dogs')})`);
    }
  }
  const classIndices: Record<string, number> = {};
  classNames.forEach((c, i) => (classIndices[c] = i));
  const filenames: string[] = [];
  const filepaths: string[] = [];
  const labels: number[] = [];
  const counts: number[] = [];
  const exclude = new Set(options.exclude ?? []);
  const excluded: string[] = [];
  for (let ci = 0; ci < classNames.length; ci++) {
    const classDir = join(dir, classNames[ci]);
    const classTally: WalkTally = { hidden: 0, otherFiles: {} };
    const all = options.allowEmptyClasses && !isDirectory(classDir) ? [] : walkImages(classDir, options.followLinks ?? false, classTally);
    addTally(tally, classTally);
    if (all.length === 0 && !options.allowEmptyClasses) {
      const others = Object.keys(classTally.otherFiles).length === 0 ? '' : `; it holds ${describeOtherFiles(classTally.otherFiles)}${unreadImageFormats(classTally.otherFiles).length > 0 ? ': convert the images to PNG or JPEG' : ''}`;
      throw new DataError(`class '${classNames[ci]}' has no images in ${join(dir, classNames[ci])} (extensions read: ${IMAGE_EXTENSIONS.join(', ')}${others})`);
    }
    let start = 0;
    let stop = all.length;
    if (subset === 'validation') stop = Math.floor(split * all.length);
    else if (subset === 'training') start = Math.floor(split * all.length);
    const chosen = all.slice(start, stop);
    let count = 0;
    for (const path of chosen) {
      // Relative to the data folder ('class/file.jpg'): Keras's relpath to dirname(directory) minus the folder name.
      const name = relative(dir, path).split(sep).join('/');
      if (exclude.has(name)) {
        excluded.push(name);
        continue;
      }
      filepaths.push(path);
      filenames.push(name);
      labels.push(ci);
      count++;
    }
    if (count === 0 && chosen.length > 0) throw new DataError(`class '${classNames[ci]}' has no images left in ${join(dir, classNames[ci])}: the exclude list names all ${chosen.length} of them`);
    counts.push(count);
  }
  if (filenames.length === 0 && options.allowEmptyClasses) {
    throw new DataError(`${dir}: no images in the folders of classes ${classNames.join(', ')}${otherFolders.length > 0 ? ` (other folders, not classes: ${otherFolders.join(', ')})` : ''}`);
  }
  return { directory: dir, classNames, classIndices, filenames, filepaths, classes: Int32Array.from(labels), counts, excluded, hidden: tally.hidden, otherFolders, otherFiles: tally.otherFiles };
}

function addTally(into: WalkTally, from: WalkTally): void {
  into.hidden += from.hidden;
  into.otherFiles = addOtherFiles(into.otherFiles, from.otherFiles);
}

/** The directory's sub-folders, symbolic links to folders included. */
function classFolders(dir: string): Dirent[] {
  return readdirSync(dir, { withFileTypes: true }).filter((e) => e.isDirectory() || (e.isSymbolicLink() && isDirectory(join(dir, e.name))));
}
