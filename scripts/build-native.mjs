#!/usr/bin/env node
// Builds Maestro's native kernels (native/kernels/*.cc → native/kernels/build/kernels.node: the matrix
// product, GELU, AdamW, reductions, dropout and one-query attention) with the machine's C++ compiler and Node's own headers. Run by
// `npm ci`/`npm install` (postinstall). Optional: if there is no compiler, no headers or no x86-64 CPU, it
// says so and exits 0, and Maestro keeps tfjs' own wasm kernels (~4x slower to train; see
// src/model/native-kernels.ts).
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, renameSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const sources = ['module.cc', 'gemm.cc', 'gelu.cc', 'optim.cc', 'dropout.cc', 'attention.cc'].map((file) => join(root, 'native', 'kernels', file));
const outDir = join(root, 'native', 'kernels', 'build');
const out = join(outDir, 'kernels.node');

function headers() {
  const candidates = [process.env.npm_config_nodedir, join(dirname(process.execPath), '..'), '/usr', '/usr/local'];
  for (const dir of candidates) if (dir && existsSync(join(dir, 'include', 'node', 'node_api.h'))) return join(dir, 'include', 'node');
  return null;
}

try {
  if (process.arch !== 'x64') throw new Error(`the kernels are written for x86-64 (this is ${process.arch})`);
  const include = headers();
  if (!include) throw new Error("Node's C headers (include/node/node_api.h) were not found");
  mkdirSync(outDir, { recursive: true });
  const tmp = `${out}.tmp-${process.pid}`;
  const cxx = process.env.CXX || 'g++';
  execFileSync(cxx, ['-O3', '-std=c++17', '-shared', '-fPIC', '-fno-exceptions', `-I${include}`, ...sources, '-o', tmp], { stdio: ['ignore', 'inherit', 'inherit'] });
  renameSync(tmp, out); // atomic: a half-written addon is never loaded
  console.log(`maestro: built ${out}`);
} catch (err) {
  console.warn(`maestro: native kernels not built (${err.message.split('\n')[0]}); training uses tfjs' wasm kernels instead`);
}
