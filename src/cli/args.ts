/** Small helpers shared by the CLI commands: typed option parsing and output paths, with readable errors. */
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';

export class UsageError extends Error {}

export function parse<T extends ParseArgsConfig['options']>(argv: string[], options: T, allowPositionals = true) {
  try {
    return parseArgs({ args: argv, options, allowPositionals, strict: true });
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

export function num(value: string | undefined, name: string, fallback: number | undefined, range?: [number, number]): number | undefined {
  if (value === undefined) return fallback;
  const x = Number(value);
  if (!Number.isFinite(x)) throw new UsageError(`--${name} must be a number (got "${value}")`);
  if (range && (x < range[0] || x > range[1])) throw new UsageError(`--${name} must be between ${range[0]} and ${range[1]} (got ${x})`);
  return x;
}

export function int(value: string | undefined, name: string, fallback: number | undefined, range?: [number, number]): number | undefined {
  const x = num(value, name, fallback, range);
  if (x !== undefined && !Number.isInteger(x)) throw new UsageError(`--${name} must be a whole number (got ${x})`);
  return x;
}

/** The bytes of an input file a user named, or a one-line UsageError saying why they cannot be read. */
export function readInputFile(file: string, what = 'MIDI file'): Uint8Array {
  try {
    return readFileSync(file);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new UsageError(code === 'ENOENT' ? `no such file: ${file}` : code === 'EISDIR' ? `${file} is a folder, not a ${what}` : `${file}: cannot read (${code ?? (err as Error).message})`);
  }
}

/**
 * Creates an output directory, or says in one line why it cannot be one. Commands call it before their work, so that
 * a composition or a render is never lost to an unwritable output path.
 */
export function prepareOutDir(dir: string, flag = 'out'): void {
  if (existsSync(dir) && !statSync(dir).isDirectory()) throw new UsageError(`--${flag} ${dir} is a file; give a directory`);
  try {
    makeDirs(dir);
  } catch (err) {
    throw new UsageError(`cannot create the directory ${dir} for --${flag} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message})`);
  }
}

/**
 * `mkdir -p`, one level at a time: Node 20's `mkdirSync(dir, { recursive: true })` never returns for a path under /proc
 * (it retries the ENOENT forever), and a user's --out can be anything.
 */
function makeDirs(dir: string): void {
  const missing: string[] = [];
  for (let d = resolve(dir); !existsSync(d); d = dirname(d)) {
    missing.push(d);
    if (dirname(d) === d) break;
  }
  for (const d of missing.reverse()) {
    try {
      mkdirSync(d);
    } catch (err) {
      // Made meanwhile by another process: fine if it is a directory.
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(d).isDirectory()) throw err;
    }
  }
}

/**
 * A directory a command replaces whole with a model (soup --out, --promote), keeping the old one as `<dir>.previous`:
 * it must not exist yet, or be a model directory (or empty), so that a file or a typo such as `--promote models` is
 * refused instead of moved aside. Its parent is created.
 */
export function checkModelDir(dir: string, flag: string): void {
  if (existsSync(dir)) {
    if (!statSync(dir).isDirectory()) throw new UsageError(`--${flag} ${dir} is a file, not a model directory: it would be replaced`);
    if (!existsSync(join(dir, 'config.json')) && readdirSync(dir).length > 0) {
      throw new UsageError(`--${flag} ${dir} is not a model directory (it has no config.json): the whole folder would be replaced; give a model's own directory, e.g. models/baroque`);
    }
  }
  prepareOutDir(dirname(dir), flag);
}

/** The same for an output file: its folder is created, and the path must not be a directory. */
export function prepareOutFile(file: string, flag = 'out'): void {
  if (existsSync(file) && statSync(file).isDirectory()) throw new UsageError(`--${flag} ${file} is a directory; give a file name`);
  prepareOutDir(dirname(file), flag);
}
