// Turns queue events into throttled progress edits: at most one edit per job per interval, the latest
// text wins, and nothing is edited after the final result was posted.
import type { DiscordOut } from './discord-out.js';
import type { JobProgress, ReplyTarget } from '../queue/jobs.js';

interface Tracked {
  target: ReplyTarget;
  lastEditAt: number;
  pending: string | null;
  timer: NodeJS.Timeout | null;
  chain: Promise<void>;
  lastText: string;
}

export function describeProgress(p: JobProgress, label: string): string {
  const pct = Math.round(Math.max(0, Math.min(1, p.fraction)) * 100);
  switch (p.stage) {
    case 'sampling':
      return `🎼 ${label}: composing… ${pct}%`;
    case 'rendering':
      return `🎹 ${label}: rendering audio and piano roll…`;
    case 'dataset':
      return `📚 ${label}: building the dataset… ${pct}%${p.detail ? ` (${p.detail})` : ''}`;
    case 'training':
      return `🏋️ ${label}: training… ${pct}%${p.detail ? ` (${p.detail})` : ''}`;
    case 'saving':
      return `💾 ${label}: saving…`;
  }
}

export class ProgressReporter {
  private readonly jobs = new Map<string, Tracked>();
  private readonly finished = new Set<string>();

  constructor(
    private readonly out: DiscordOut,
    private readonly intervalMs: number,
    private readonly log: (msg: string) => void,
  ) {}

  track(jobId: string, target: ReplyTarget): void {
    if (this.finished.has(jobId) || this.jobs.has(jobId)) return;
    // The acknowledgement/queued message counts as the first edit.
    this.jobs.set(jobId, { target, lastEditAt: Date.now(), pending: null, timer: null, chain: Promise.resolve(), lastText: '' });
  }

  isTracked(jobId: string): boolean {
    return this.jobs.has(jobId);
  }

  trackedIds(): string[] {
    return [...this.jobs.keys()];
  }

  /**
   * An edit that must not wait for the throttle (the "queued" notice right after enqueueing). It is
   * ordered with the other edits, so it can never overwrite a result that was delivered first.
   */
  post(jobId: string, text: string): Promise<void> {
    const t = this.jobs.get(jobId);
    if (!t) return Promise.resolve();
    t.lastEditAt = Date.now();
    t.lastText = text;
    t.chain = t.chain
      .then(() => this.out.progress(jobId, t.target, text))
      .catch((err: Error) => this.log(`progress edit for ${jobId} failed: ${err.message}`));
    return t.chain;
  }

  update(jobId: string, text: string): void {
    const t = this.jobs.get(jobId);
    if (!t || text === t.lastText || text === t.pending) return;
    t.pending = text;
    if (t.timer) return;
    const wait = Math.max(0, t.lastEditAt + this.intervalMs - Date.now());
    t.timer = setTimeout(() => this.flush(jobId), wait);
  }

  private flush(jobId: string): void {
    const t = this.jobs.get(jobId);
    if (!t) return;
    t.timer = null;
    const text = t.pending;
    t.pending = null;
    if (text === null) return;
    t.lastEditAt = Date.now();
    t.lastText = text;
    t.chain = t.chain
      .then(() => this.out.progress(jobId, t.target, text))
      .catch((err: Error) => this.log(`progress edit for ${jobId} failed: ${err.message}`));
  }

  /** Stops progress for a job and waits for an in-flight edit, so it cannot land after the result. */
  async finish(jobId: string): Promise<void> {
    this.finished.add(jobId);
    // Only late events need this memory; keep it bounded.
    if (this.finished.size > 10_000) this.finished.delete(this.finished.values().next().value!);
    const t = this.jobs.get(jobId);
    if (!t) return;
    if (t.timer) clearTimeout(t.timer);
    this.jobs.delete(jobId);
    await t.chain;
  }

  async close(): Promise<void> {
    await Promise.all([...this.jobs.keys()].map((id) => this.finish(id)));
  }
}
