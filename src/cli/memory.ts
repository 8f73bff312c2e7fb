/**
 * `maestro memory --data CORPUS --model DIR` — give a style model its memory: the notes of the corpus' training
 * part (train.bin, never its validation part), searched at every step for the longest run of chords matching what
 * was just played and mixed into the GPT's prediction (src/model/memory.ts). The mix weights (per token field and
 * match length) are fitted on the corpus' validation windows against this model; the command prints the GPT alone,
 * the mix, and the mix with weights fitted on the other half of the windows (two-fold cross-validation), and writes
 * memory.json + memory-<sha>.bin into the model directory.
 */
import { existsSync, readFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import { initBackend } from '../model/backend.js';
import { loadModel, readCard, writeCard, ModelLoadError } from '../model/store.js';
import { DEFAULT_MEMORY_SETTINGS, StyleMemory, MEMORY_FIELDS, SIMILARITY_BUCKETS } from '../model/memory.js';
import { saveMemory } from '../model/memory-store.js';
import { sha256 } from '../util/sha256.js';
import { collectVotes, crossValidated, fitWeights, mixedLoss, modelLoss } from '../../training/memory-fit.js';
import { int, parse, UsageError } from './args.js';
import { roundMetric } from '../model/store.js';

const HELP = `usage: maestro memory --data CORPUS --model DIR [--chord-gap N]

  --data DIR       a corpus from "maestro dataset build" (train.bin is what the memory holds; val.bin fits its weights)
  --model DIR      the style model the memory joins (memory.json and memory-<sha>.bin are written there)
  --chord-gap N    notes starting within N onset quanta (16 ms) of the previous one form one chord (default ${DEFAULT_MEMORY_SETTINGS.chordGap})
`;

export async function runMemory(argv: string[]): Promise<number> {
  const started = Date.now();
  let o;
  let chordGap: number;
  try {
    o = parse(argv, { data: { type: 'string' }, model: { type: 'string' }, 'chord-gap': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, false).values;
    if (o.help) {
      console.log(HELP);
      return 0;
    }
    if (!o.data || !o.model) throw new UsageError('--data and --model are required');
    for (const f of ['train.bin', 'val.bin']) if (!existsSync(join(o.data, f))) throw new UsageError(`${o.data} has no ${f}: build it with "maestro dataset build"`);
    if (!existsSync(join(o.model, 'config.json'))) throw new UsageError(`no model at ${o.model} (missing config.json)`);
    chordGap = int(o['chord-gap'], 'chord-gap', DEFAULT_MEMORY_SETTINGS.chordGap, [0, 126])!;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`maestro memory: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  await initBackend();
  let model;
  try {
    model = loadModel(o.model);
  } catch (err) {
    if (err instanceof ModelLoadError) {
      console.error(`maestro memory: ${err.message}`);
      return 2;
    }
    throw err;
  }
  const train = new Uint8Array(readFileSync(join(o.data, 'train.bin')));
  const val = new Uint8Array(readFileSync(join(o.data, 'val.bin')));
  const memory = new StyleMemory(train, { ...DEFAULT_MEMORY_SETTINGS, chordGap });
  console.log(`memory: ${memory.notes} notes of ${o.data}/train.bin (${train.length} tokens)`);
  const seqLen = Math.min(128, model.config.blockSize);
  const votes = collectVotes(model, memory, val, seqLen, (done, total) => process.stderr.write(`\rfitting on validation windows: ${done}/${total}`));
  process.stderr.write('\n');
  model.dispose();
  memory.weights = fitWeights(votes.votes);
  const gpt = modelLoss(votes);
  const mixed = mixedLoss(votes, memory.weights);
  const cv = crossValidated(votes);
  console.log(`validation loss (${votes.windows} windows of ${seqLen}): GPT alone ${gpt.toFixed(4)}, with memory ${mixed.toFixed(4)}, with weights fitted on the other half of the windows ${cv.toFixed(4)}`);
  for (const f of MEMORY_FIELDS) console.log(`  weights ${f.padEnd(5)} by match length [0 1 4 8 16 32 48+]: ${memory.weights[f].join(' ')}`);
  const perRow = SIMILARITY_BUCKETS.length + 1;
  for (const f of MEMORY_FIELDS) {
    const near = memory.weights.near[f];
    const rows: string[] = [];
    for (let i = 0; i < near.length; i += perRow) rows.push(near.slice(i, i + perRow).join(' '));
    console.log(`  neighbours ${f.padEnd(5)} by match length, then similarity [0 .7 .8 .9 .95]: ${rows.join(' | ')}`);
  }
  const card = readCard(o.model);
  const weightsSha = sha256(new Uint8Array(readFileSync(join(o.model, 'weights.mtw'))));
  const saved = saveMemory(o.model, memory, {
    corpus: basename(o.data.replace(/\/+$/, '')),
    licence: card?.licence ?? 'CC BY-NC-SA 4.0 (holds notes of MAESTRO performances: non-commercial, share-alike)',
    fit: {
      command: ['maestro', 'memory', ...argv].join(' '),
      model: { dir: o.model, weightsSha256: weightsSha },
      windows: votes.windows,
      seqLen,
      gptValLoss: roundMetric(gpt),
      valLoss: roundMetric(mixed),
      crossValidatedValLoss: roundMetric(cv),
      targetsWithGuess: votes.votes.length,
      targets: votes.tokens,
      wallSeconds: Math.round((Date.now() - started) / 100) / 10,
      note: 'weights chosen on the validation windows (grid per field and match length); crossValidatedValLoss scores each half of the windows with weights fitted on the other half',
    },
  });
  if (card) {
    // The card says the served model has a memory and what it measured; memory.json has the rest.
    card.memory = { file: 'memory.json', holds: `${saved.source.corpus}/train.bin (${saved.source.notes} notes, sha256 ${saved.source.sha256})`, gptValLoss128: roundMetric(gpt), valLoss128: roundMetric(mixed), crossValidatedValLoss128: roundMetric(cv), licence: saved.licence };
    writeCard(o.model, card);
  }
  console.log(`saved ${join(o.model, 'memory.json')} and ${saved.source.file}`);
  return 0;
}
