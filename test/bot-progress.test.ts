// Progress edits are throttled per job (Discord rate-limits edits), the latest text wins, and nothing
// lands after the result.
import { describe, it, expect, vi, afterEach } from 'vitest';
import { ProgressReporter, describeProgress } from '../src/bot/progress.js';
import type { DiscordOut } from '../src/bot/discord-out.js';
import type { ReplyTarget } from '../src/queue/jobs.js';

const target: ReplyTarget = { applicationId: '1', interactionId: '2', token: 't', channelId: '3', userId: '4', receivedAt: 0, attachmentSizeLimit: 1 };

function recorder() {
  const edits: string[] = [];
  const out = { progress: async (_job: string, _t: ReplyTarget, text: string) => void edits.push(text) } as unknown as DiscordOut;
  return { edits, reporter: new ProgressReporter(out, 3_000, () => {}) };
}

afterEach(() => {
  vi.useRealTimers();
});

describe('ProgressReporter', () => {
  it('coalesces a flood of updates into one edit per interval, keeping the latest text', async () => {
    vi.useFakeTimers();
    const { edits, reporter } = recorder();
    reporter.track('j', target);
    for (let p = 1; p <= 50; p++) reporter.update('j', describeProgress({ stage: 'sampling', fraction: p / 100 }, 'Your piece'));
    await vi.advanceTimersByTimeAsync(2_999);
    expect(edits).toEqual([]);
    await vi.advanceTimersByTimeAsync(1);
    expect(edits).toEqual(['🎼 Your piece: composing… 50%']);
    reporter.update('j', describeProgress({ stage: 'rendering', fraction: 0 }, 'Your piece'));
    await vi.advanceTimersByTimeAsync(2_999);
    expect(edits).toHaveLength(1);
    await vi.advanceTimersByTimeAsync(1);
    expect(edits).toEqual(['🎼 Your piece: composing… 50%', '🎹 Your piece: rendering audio and piano roll…']);
  });

  it('drops pending and late updates once the job is finished', async () => {
    vi.useFakeTimers();
    const { edits, reporter } = recorder();
    reporter.track('j', target);
    reporter.update('j', 'pending');
    await reporter.finish('j');
    reporter.update('j', 'late');
    reporter.track('j', target);
    reporter.update('j', 'later');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(edits).toEqual([]);
  });
});

describe('ProgressReporter.post', () => {
  it('is sent at once, and ordered before anything that follows finish()', async () => {
    const order: string[] = [];
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const out = {
      progress: async (_job: string, _t: ReplyTarget, text: string) => {
        if (text === 'queued') await gate; // a slow edit
        order.push(text);
      },
    } as unknown as DiscordOut;
    const reporter = new ProgressReporter(out, 3_000, () => {});
    reporter.track('j', target);
    void reporter.post('j', 'queued');
    const finished = reporter.finish('j').then(() => order.push('result'));
    release();
    await finished;
    expect(order).toEqual(['queued', 'result']);
  });
});
