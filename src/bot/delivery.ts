// The bot's consumer of the deliveries queue: posts finished results (and failures) to Discord.
// Because deliveries are jobs in Redis, a result that finished while the bot was down is posted
// as soon as the bot is back; Discord errors are retried with backoff.
import { Worker, type Job } from 'bullmq';
import type { Redis } from 'ioredis';
import type { BotContext } from './context.js';
import type { OutFile, OutMessage } from './discord-out.js';
import { followButtons, pickButtons, resultText } from './messages.js';
import { QUEUE_NAMES, type ComposeManifest, type DeliveryJobData } from '../queue/jobs.js';
import { withoutRepeats } from '../queue/connection.js';

export interface DeliveryInfo {
  jobId: string;
  kind: DeliveryJobData['kind'];
  where: 'interaction' | 'channel';
  uploadMs: number;
  bytes: number;
}

function fileName(manifest: ComposeManifest, index: number, ext: string): string {
  const c = manifest.candidates[index];
  const base = `maestro-${manifest.settings.style}-${c.seed}`;
  return manifest.candidates.length > 1 ? `${index + 1}-${base}.${ext}` : `${base}.${ext}`;
}

/** Attachments for the given candidates, leaving out (and naming) any file over the upload limit. */
async function candidateFiles(ctx: BotContext, manifest: ComposeManifest, indices: number[], kinds: Array<'ogg' | 'mid' | 'png'>, limit: number) {
  const files: OutFile[] = [];
  const skipped: string[] = [];
  for (const i of indices) {
    const c = manifest.candidates[i];
    for (const kind of kinds) {
      const key = kind === 'ogg' ? c.oggKey : kind === 'mid' ? c.midiKey : c.pngKey;
      const data = await ctx.store.get(key);
      const name = fileName(manifest, i, kind);
      if (data.length > limit) skipped.push(name);
      else files.push({ name, data, contentType: kind === 'ogg' ? 'audio/ogg' : kind === 'mid' ? 'audio/midi' : 'image/png' });
    }
  }
  return { files, skipped };
}

export async function composeMessage(ctx: BotContext, manifest: ComposeManifest, chosen: number | null, limit: number): Promise<OutMessage> {
  const many = manifest.candidates.length > 1 && chosen === null;
  const indices = chosen === null ? manifest.candidates.map((c) => c.index) : [chosen];
  // Discord allows 10 attachments: with several candidates, send audio + piano roll now and the MIDI once one is kept.
  const kinds: Array<'ogg' | 'mid' | 'png'> = many ? ['ogg', 'png'] : ['ogg', 'mid', 'png'];
  const { files, skipped } = await candidateFiles(ctx, manifest, indices, kinds, limit);
  let content = resultText(manifest, ctx.styles, chosen);
  if (skipped.length) content += `\n(Left out, too large for this server's upload limit: ${skipped.join(', ')}.)`;
  const components = many ? pickButtons(manifest) : followButtons(manifest.jobId, indices[0]);
  return { content, files, components };
}

export function createDeliveryWorker(ctx: BotContext, connection: Redis, onDelivered?: (info: DeliveryInfo) => void): Worker<DeliveryJobData> {
  const processor = async (job: Job<DeliveryJobData>) => {
    const d = job.data;
    await ctx.progress.finish(d.jobId);
    let msg: OutMessage;
    if (d.kind === 'compose-result') {
      const manifest = await ctx.store.getJson<ComposeManifest>(d.manifestKey);
      msg = await composeMessage(ctx, manifest, null, d.target.attachmentSizeLimit);
      // Uploading a few MB can take a moment on a slow link; say so (best effort, not retried). Not worth
      // a channel message of its own once the token has expired.
      if (ctx.out.tokenUsable(d.target)) await ctx.out.progress(d.jobId, d.target, '📤 Uploading…').catch(() => {});
    } else if (d.kind === 'training-result') {
      msg = { content: `✅ \`${d.action}\` finished.\n${d.summary}` };
    } else {
      msg = { content: `⚠️ ${d.message}` };
    }
    const t0 = Date.now();
    const where = await ctx.out.final(d.jobId, d.target, msg);
    const uploadMs = Date.now() - t0;
    await ctx.admission.release(d.target.userId, d.jobId);
    onDelivered?.({ jobId: d.jobId, kind: d.kind, where, uploadMs, bytes: (msg.files ?? []).reduce((n, f) => n + f.data.length, 0) });
    ctx.log(`delivered ${d.kind} for ${d.jobId} via ${where} in ${uploadMs} ms`);
  };
  const worker = new Worker<DeliveryJobData>(QUEUE_NAMES.deliveries, processor, { connection, prefix: ctx.config.redis.prefix, concurrency: 4 });
  worker.on('failed', (job, err) => ctx.log(`delivery ${job?.id} failed (attempt ${job?.attemptsMade}): ${err.message}`));
  const logError = withoutRepeats(ctx.log); // while Redis is down the same error comes at every reconnection attempt
  worker.on('error', (err) => logError(`delivery worker error: ${err.message}`));
  return worker;
}
