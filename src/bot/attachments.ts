// Downloading a user's MIDI attachment. Only Discord's CDN hosts are ever contacted (the URL comes from
// the interaction payload, but a payload is still input); size is checked before and during the download.
import { readMidi, MidiInputError } from '../music/midi.js';
import { abcToMidi, AbcInputError } from '../music/abc.js';
import type { NoteSequence } from '../music/note-sequence.js';
import { UserFacingError } from './errors.js';

export interface AttachmentRef {
  url: string;
  size: number;
  name: string;
}

export interface DownloadPolicy {
  allowedHosts: string[];
  maxBytes: number;
  timeoutMs?: number;
  fetchImpl?: typeof fetch;
}

const LOOPBACK = new Set(['127.0.0.1', 'localhost', '[::1]']);

/** A file size as the limits are stated to users: "980 KB", "8.0 MB". */
export function fileSize(n: number): string {
  return n >= 1024 * 1024 ? `${(n / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(n / 1024)} KB`;
}

/** Checks everything knowable without a request; throws UserFacingError. */
export function checkAttachment(att: AttachmentRef, policy: DownloadPolicy): URL {
  let url: URL;
  try {
    url = new URL(att.url);
  } catch {
    throw new UserFacingError('That attachment link is not valid.');
  }
  const hostAllowed = policy.allowedHosts.includes(url.host.toLowerCase());
  // Plain http is only acceptable for an allowlisted loopback host (the test fake); Discord's CDN is https.
  const protocolOk = url.protocol === 'https:' || (url.protocol === 'http:' && LOOPBACK.has(url.hostname));
  if (!hostAllowed || !protocolOk) throw new UserFacingError('I can only read files uploaded to Discord itself. Please attach the MIDI file directly.');
  if (!/\.(mid|midi)$/i.test(att.name)) throw new UserFacingError(`"${att.name}" does not look like a MIDI file — please attach a .mid or .midi file.`);
  if (att.size > policy.maxBytes) throw new UserFacingError(`That file is ${fileSize(att.size)}; the limit is ${fileSize(policy.maxBytes)}. A melody or a short piece is plenty.`);
  return url;
}

export async function downloadAttachment(att: AttachmentRef, policy: DownloadPolicy): Promise<Uint8Array> {
  const url = checkAttachment(att, policy);
  const doFetch = policy.fetchImpl ?? fetch;
  let res: Response;
  try {
    // No redirects: a redirect could lead anywhere, and Discord's CDN does not need them.
    res = await doFetch(url, { redirect: 'error', signal: AbortSignal.timeout(policy.timeoutMs ?? 15_000) });
  } catch {
    throw new UserFacingError('I could not download your attachment from Discord. Please try again.');
  }
  if (!res.ok || !res.body) throw new UserFacingError('I could not download your attachment from Discord. Please try again.');
  const declared = Number(res.headers.get('content-length') ?? '0');
  if (declared > policy.maxBytes) {
    await res.body.cancel().catch(() => {});
    throw new UserFacingError(`That file is ${fileSize(declared)}; the limit is ${fileSize(policy.maxBytes)}.`);
  }
  const chunks: Uint8Array[] = [];
  let total = 0;
  const reader = res.body.getReader();
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    total += value.length;
    // The size field in the payload could lie; stop reading the moment the real stream exceeds the limit.
    if (total > policy.maxBytes) {
      await reader.cancel().catch(() => {});
      throw new UserFacingError(`That file is larger than the ${fileSize(policy.maxBytes)} limit.`);
    }
    chunks.push(value);
  }
  const bytes = new Uint8Array(total);
  let off = 0;
  for (const c of chunks) {
    bytes.set(c, off);
    off += c.length;
  }
  return bytes;
}

/** Validates the bytes as MIDI, turning the parser's typed error into a message for the user. */
export function parsePromptMidi(bytes: Uint8Array, name: string, maxBytes: number): NoteSequence {
  try {
    return readMidi(bytes, { maxBytes, name, timing: 'exact' });
  } catch (err) {
    if (err instanceof MidiInputError) throw new UserFacingError(`I can't use "${name}": ${err.message}`);
    throw new UserFacingError(`I can't use "${name}": it could not be read as a MIDI file.`);
  }
}

/**
 * A melody typed in ABC notation (the /compose `melody` option), as the MIDI prompt an upload would be: its bytes,
 * validated like an upload's, and the name the reply gives it (the tune's title, else "your melody").
 */
export function melodyPrompt(text: string, maxBytes: number): { bytes: Uint8Array; name: string; key?: string } {
  let melody;
  try {
    melody = abcToMidi(text);
  } catch (err) {
    if (err instanceof AbcInputError) throw new UserFacingError(`I can't use your melody: ${err.message}.`);
    throw err;
  }
  const name = melody.title ?? 'your melody';
  parsePromptMidi(melody.midi, name, maxBytes);
  return { bytes: melody.midi, name, ...(melody.key ? { key: melody.key } : {}) };
}
