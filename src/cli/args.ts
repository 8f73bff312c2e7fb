/** Small helpers shared by the CLI commands: typed option parsing with readable errors. */
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
