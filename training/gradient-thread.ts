// A gradient thread (see gradient-threads.ts): a model replica that, each step, takes the published
// weights, computes its share of the micro-batches and writes their summed gradients to shared memory.
import { parentPort } from 'node:worker_threads';
import * as tf from '@tensorflow/tfjs';
import { initBackend } from '../src/model/backend.js';
import { GPT } from '../src/model/gpt.js';
import { addInto, microBatchGrads } from './trainer.js';
import { assignFlat, writeFlat, type GradientThreadInit, type GradientThreadMessage } from './gradient-threads.js';

const port = parentPort!;
const send = (m: GradientThreadMessage) => port.postMessage(m);
let replica: { init: GradientThreadInit; model: GPT; weights: Float32Array; grads: Float32Array; train: Uint8Array } | null = null;

port.on('message', (msg: GradientThreadInit | { type: 'step'; step: number }) => {
  void (async () => {
    try {
      if (!('type' in msg)) {
        await initBackend(undefined, () => {});
        replica = {
          init: msg,
          model: new GPT(msg.config),
          weights: new Float32Array(msg.weights.buffer),
          grads: new Float32Array(msg.grads.buffer),
          train: new Uint8Array(msg.train),
        };
        send({ type: 'ready' });
        return;
      }
      const r = replica!;
      assignFlat(r.model, r.init.weights.layout, r.weights);
      const opts = { ...r.init.options, train: r.train };
      let loss = 0;
      let sum: Record<string, tf.Tensor> | undefined;
      for (let micro = r.init.index; micro < opts.accumulate; micro += r.init.stride) {
        const g = microBatchGrads(r.model, r.init.grads.layout.names, opts, msg.step, micro);
        loss += g.loss;
        sum = sum ? addInto(sum, g.grads) : g.grads;
      }
      writeFlat(r.init.grads.layout, sum!, r.grads);
      tf.dispose(Object.values(sum!));
      send({ type: 'done', step: msg.step, loss });
    } catch (err) {
      send({ type: 'error', message: (err as Error).stack ?? String(err) });
    }
  })();
});
