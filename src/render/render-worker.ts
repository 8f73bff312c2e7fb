/**
 * Worker-thread entry: renders (and optionally encodes) requests one at a time with the thread's
 * own cached synthesizer. Started by ./off-thread.ts; a TypeScript file, so it runs with tsx's loader.
 */
import { parentPort } from 'node:worker_threads';
import { encodeOggOpusWithInfo } from './opus.js';
import { renderToPcm } from './render-pcm.js';
import type { RenderRequest, RenderResponse, SerializedError } from './worker-protocol.js';

function serialize(err: unknown): SerializedError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, message: err.message, stack: err.stack, ...(typeof code === 'string' ? { code } : {}) };
  }
  return { name: 'Error', message: String(err) };
}

async function handle(req: RenderRequest): Promise<{ res: RenderResponse; transfer: ArrayBuffer[] }> {
  try {
    const t0 = performance.now();
    const pcm = await renderToPcm(req.input, req.render);
    const renderMs = performance.now() - t0;
    if (req.encode) {
      const t1 = performance.now();
      const { bytes, bitrate } = encodeOggOpusWithInfo(pcm, req.encode);
      const encodeMs = performance.now() - t1;
      return { res: { id: req.id, ok: true, sampleRate: pcm.sampleRate, ogg: bytes, bitrate, renderMs, encodeMs }, transfer: [bytes.buffer as ArrayBuffer] };
    }
    // Send exactly the rendered frames; copying is cheap next to rendering and frees the spare capacity.
    const channels = pcm.channels.map((c) => c.slice());
    return {
      res: { id: req.id, ok: true, sampleRate: pcm.sampleRate, channels, renderMs, encodeMs: 0 },
      transfer: channels.map((c) => c.buffer as ArrayBuffer),
    };
  } catch (err) {
    return { res: { id: req.id, ok: false, error: serialize(err) }, transfer: [] };
  }
}

if (!parentPort) throw new Error('render-worker.ts must be started as a worker thread');
const port = parentPort;
// One request at a time: the synthesizer is shared state.
let queue = Promise.resolve();
port.on('message', (req: RenderRequest) => {
  queue = queue.then(async () => {
    const { res, transfer } = await handle(req);
    port.postMessage(res, transfer);
  });
});
