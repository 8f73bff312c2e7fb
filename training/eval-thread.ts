// An eval thread (see eval-threads.ts): builds the model from the shared weights, evaluates its windows
// and posts the sums.
import { parentPort, workerData } from 'node:worker_threads';
import { initBackend } from '../src/model/backend.js';
import { GPT } from '../src/model/gpt.js';
import { assignFlat } from './gradient-threads.js';
import { evaluateWindows } from './evaluate.js';
import { StyleMemory } from '../src/model/memory.js';
import type { EvalThreadData, EvalThreadMessage } from './eval-threads.js';

const send = (m: EvalThreadMessage) => parentPort!.postMessage(m);
try {
  const d = workerData as EvalThreadData;
  await initBackend(undefined, () => {});
  const model = new GPT(d.config);
  assignFlat(model, d.layout, new Float32Array(d.weights));
  const groupOf = d.groupOf ? new Uint8Array(d.groupOf) : undefined;
  const memory = d.memory ? new StyleMemory(new Uint8Array(d.memory.trainTokens), d.memory.settings, d.memory.weights) : undefined;
  send({ type: 'done', sums: evaluateWindows(model, new Uint8Array(d.stream), d.seqLen, d.starts, d.batch, groupOf, memory) });
} catch (err) {
  send({ type: 'error', message: (err as Error).stack ?? String(err) });
}
