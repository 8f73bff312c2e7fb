/**
 * `maestro memory --data CORPUS --model DIR` — give a style model its memory: the notes of the corpus' training
 * part (train.bin, never its validation part), searched at every step for the longest run of chords matching what
 * was just played and mixed into the GPT's prediction (src/model/memory.ts). The mix weights (src/model/memory-mix.ts:
 * tables per token field and match length, then the gate that sets them position by position, kept per field where it
 * beats the tables held out) are fitted on the corpus' validation windows against this model; the command prints the GPT alone, the mix,
 * and the mix with everything fitted on the other half of the windows (two-fold cross-validation), and writes
 * memory.json + memory-<sha>.bin into the model directory.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { initBackend } from '../model/backend.js';
import { cardStyle, corpusStyle, ModelLoadError, readCard } from '../model/store.js';
import { DEFAULT_MEMORY_SETTINGS, MEMORY_FIELDS } from '../model/memory.js';
import { SIMILARITY_BUCKETS } from '../model/memory-mix.js';
import { fitMemoryInto } from '../../training/memory-fit.js';
import { HIDDEN_COMPONENTS } from '../../training/memory-gate.js';
import { defaultViews, isViewWeight, MAX_VIEW_WEIGHT, PLAIN_VIEW } from '../model/views.js';
import { int, parse, UsageError } from './args.js';

/** The default --views: DEFAULT_MEMORY_SETTINGS.views is defaultViews(this). */
const DEFAULT_VIEWS = ((DEFAULT_MEMORY_SETTINGS.views ?? []).length - 1) / 2;

const HELP = `usage: maestro memory --data CORPUS --model DIR [--chord-gap N] [--views N] [--view-tempo F] [--plain-weight W] [--hidden-components K]

  --data DIR       a corpus from "maestro dataset build" (train.bin is what the memory holds; val.bin fits its weights)
  --model DIR      the style model the memory joins (memory.json and memory-<sha>.bin are written there)
  --chord-gap N    notes starting within N onset quanta (16 ms) of the previous one form one chord (default ${DEFAULT_MEMORY_SETTINGS.chordGap})
  --views N        the GPT's part of the mix is the mean of its predictions for 2N + 1 views of the context: as it is
                   and moved by ±1..±N semitones (src/model/views.ts; one forward pass per view; 0: the context as it
                   is; default ${DEFAULT_VIEWS})
  --view-tempo F   the transposed views are also played F slower or faster, alternately (e.g. 0.1; default 0)
  --plain-weight W the context as it is counts W times as much as each other view in the mean (e.g. 2; default 1)
  --hidden-components K
                   a gate may also read the first K principal components of the GPT's final hidden state (each field
                   keeps it only where it scores better held out; 0: never; default ${HIDDEN_COMPONENTS})
`;

export async function runMemory(argv: string[]): Promise<number> {
  const started = Date.now();
  let o;
  let chordGap: number;
  let views: number;
  let viewTempo: number;
  let plainWeight: number;
  let hiddenComponents: number;
  try {
    o = parse(argv, { data: { type: 'string' }, model: { type: 'string' }, 'chord-gap': { type: 'string' }, views: { type: 'string' }, 'view-tempo': { type: 'string' }, 'plain-weight': { type: 'string' }, 'hidden-components': { type: 'string' }, help: { type: 'boolean', short: 'h' } }, false).values;
    if (o.help) {
      console.log(HELP);
      return 0;
    }
    if (!o.data || !o.model) throw new UsageError('--data and --model are required');
    for (const f of ['train.bin', 'val.bin']) if (!existsSync(join(o.data, f))) throw new UsageError(`${o.data} has no ${f}: build it with "maestro dataset build"`);
    if (!existsSync(join(o.model, 'config.json'))) throw new UsageError(`no model at ${o.model} (missing config.json)`);
    // A memory of another style's performances would replace the style's own in a served model, silently.
    const dataStyle = corpusStyle(o.data);
    const modelStyle = cardStyle(readCard(o.model));
    if (dataStyle && modelStyle && dataStyle !== modelStyle) throw new UsageError(`${o.model} is a ${modelStyle} model and ${o.data} a ${dataStyle} corpus: a style's memory holds its own style's performances`);
    chordGap = int(o['chord-gap'], 'chord-gap', DEFAULT_MEMORY_SETTINGS.chordGap, [0, 126])!;
    views = int(o.views, 'views', DEFAULT_VIEWS, [0, 6])!;
    viewTempo = o['view-tempo'] === undefined ? 0 : Number(o['view-tempo']);
    if (!(viewTempo >= 0 && viewTempo <= 0.5)) throw new UsageError(`--view-tempo must be a number from 0 to 0.5, not "${o['view-tempo']}"`);
    plainWeight = o['plain-weight'] === undefined ? 1 : Number(o['plain-weight']);
    if (!isViewWeight(plainWeight)) throw new UsageError(`--plain-weight must be a number above 0 and at most ${MAX_VIEW_WEIGHT}, not "${o['plain-weight']}"`);
    hiddenComponents = int(o['hidden-components'], 'hidden-components', HIDDEN_COMPONENTS, [0, 64])!;
  } catch (err) {
    if (err instanceof UsageError) {
      console.error(`maestro memory: ${err.message}\n\n${HELP}`);
      return 2;
    }
    throw err;
  }
  await initBackend();
  let fit;
  try {
    fit = fitMemoryInto(o.model, o.data, {
      settings: { ...DEFAULT_MEMORY_SETTINGS, chordGap, views: defaultViews(views, viewTempo, plainWeight) },
      command: ['maestro', 'memory', ...argv].join(' '),
      hiddenComponents,
      onProgress: (done, total) => process.stderr.write(`\rfitting on validation windows: ${done}/${total}`),
    });
  } catch (err) {
    if (err instanceof ModelLoadError) {
      console.error(`maestro memory: ${err.message}`);
      return 2;
    }
    throw err;
  }
  process.stderr.write('\n');
  const { memory, saved } = fit;
  console.log(`memory: ${memory.notes} notes of ${o.data}/train.bin (${memory.trainTokens.length} tokens)`);
  console.log(`validation loss (${fit.windows} windows of ${fit.seqLen}): GPT alone ${fit.gpt.toFixed(4)}, with memory ${fit.mixed.toFixed(4)}, with weights fitted on the other half of the windows ${fit.crossValidated.toFixed(4)}`);
  const refine = memory.settings.refineByModel ?? {};
  const viewList = memory.settings.views ?? [PLAIN_VIEW];
  console.log(`  the GPT's part: the mean of ${viewList.length} view(s) of the context (semitones × tempo: ${viewList.map((v) => `${v.semitones} × ${v.tempo}${v.weight !== undefined ? ` (weight ${v.weight})` : ''}`).join(', ')})`);
  console.log(`  refined by the GPT, exponents (exact, neighbours): ${MEMORY_FIELDS.map((f) => `${f} ${(refine[f] ?? [0, 0]).join(', ')}`).join('; ')}`);
  for (const f of MEMORY_FIELDS) console.log(`  weights ${f.padEnd(5)} by match length [0 1 4 8 16 32 48+]: ${memory.weights[f].join(' ')}`);
  const perRow = SIMILARITY_BUCKETS.length + 1;
  for (const f of MEMORY_FIELDS) {
    const near = memory.weights.near[f];
    const rows: string[] = [];
    for (let i = 0; i < near.length; i += perRow) rows.push(near.slice(i, i + perRow).join(' '));
    console.log(`  neighbours ${f.padEnd(5)} by match length, then similarity [0 .7 .8 .9 .95]: ${rows.join(' | ')}`);
  }
  const gate = memory.weights.gate;
  const gated = MEMORY_FIELDS.filter((f) => gate?.exact[f]).map((f) => (gate?.hidden?.[f] ? `${f} (reading ${gate.hidden[f]!.components.length} components of the hidden state)` : f));
  console.log(`  gate (weights position by position, kept where it beat the tables held out): ${gated.length ? gated.join(', ') : 'none'}`);
  console.log(`saved ${join(o.model, 'memory.json')} and ${saved.source.file} (${((Date.now() - started) / 1000).toFixed(0)} s)`);
  return 0;
}
