// The audio engineer's renderOutputs (Ogg Opus + piano roll), loaded by the worker process.
import type { RenderOutputs } from './compose-service.js';

export async function loadRenderOutputs(): Promise<RenderOutputs> {
  const candidates = ['../render/index.js', '../render/outputs.js'];
  for (const spec of candidates) {
    try {
      const mod = (await import(spec)) as { renderOutputs?: RenderOutputs };
      if (typeof mod.renderOutputs === 'function') return mod.renderOutputs;
    } catch {
      // try the next location
    }
  }
  throw new Error('renderOutputs is not available in src/render yet; the inference worker cannot render audio');
}
