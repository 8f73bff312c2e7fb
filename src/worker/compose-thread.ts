// Runs compose() (model sampling, synchronous and CPU-bound) on a worker thread, so the worker's
// event loop stays free and BullMQ keeps renewing the job's lock while a long piece is sampled.
// Models are cached by compose() inside the thread: each thread loads a style once.
import { parentPort } from 'node:worker_threads';
import { compose, type ComposeRequest } from '../compose.js';
import type { ComposeThreadMessage, ComposeThreadRequest } from './compose-thread-protocol.js';

const port = parentPort!;

port.on('message', (msg: ComposeThreadRequest) => {
  const send = (m: ComposeThreadMessage, transfer: ArrayBuffer[] = []) => port.postMessage(m, transfer);
  const req: ComposeRequest = { ...msg.request, onProgress: (fraction) => send({ id: msg.id, type: 'progress', fraction }) };
  compose(req).then(
    (result) => send({ id: msg.id, type: 'done', result }),
    (err: Error & { code?: string }) => send({ id: msg.id, type: 'error', error: { name: err.name, message: err.message, code: err.code, isUnknownStyle: err.constructor?.name === 'UnknownStyleError' } }),
  );
});
