// The real compose pipeline for bot tests (tiny models, the real renderer), and an Ogg Opus decoder
// to check what users would hear.
import { OggOpusDecoder } from 'ogg-opus-decoder';
import { createPipelineService } from '../../src/worker/compose-service.js';
import type { ComposeService } from '../../src/queue/jobs.js';

export async function realComposeService(modelsDir: string): Promise<ComposeService> {
  return createPipelineService({ modelsDir });
}

export async function decodeOgg(bytes: Uint8Array): Promise<{ sampleRate: number; samples: number; channels: number }> {
  const decoder = new OggOpusDecoder();
  await decoder.ready;
  try {
    const out = await decoder.decodeFile(bytes);
    if (out.errors.length) throw new Error(`Ogg Opus decode errors: ${out.errors.map((e) => e.message).join('; ')}`);
    return { sampleRate: out.sampleRate, samples: out.samplesDecoded, channels: out.channelData.length };
  } finally {
    decoder.free();
  }
}
