/**
 * A piano-roll PNG of a prompt and its continuation, sized for Discord's inline preview:
 * time in seconds on x, pitch on y (black-key rows shaded, C rows labelled), the user's notes and
 * Maestro's in two colours with velocity as brightness, a sustain-pedal lane, and a caption with
 * the style and settings. The font ships with the repo (assets/fonts) so it renders the same everywhere.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createCanvas, GlobalFonts } from '@napi-rs/canvas';
import type { SKRSContext2D } from '@napi-rs/canvas';
import type { Note, NoteSequence, PedalSpan } from '../music/note-sequence.js';

export interface PianoRollInput {
  /** The user's notes, on the same timeline as `continuation`. */
  prompt?: NoteSequence | null;
  /** Maestro's notes (absolute times: they start after the prompt). */
  continuation: NoteSequence;
  /** Where on the prompt's own timeline the picture starts, when it shows only the prompt's end (see fromLeadIn). */
  promptFromSec?: number;
  /** Title line, e.g. "Maestro · romantic · seed 7 · temperature 1 · top-p 0.96". */
  caption: string;
  width?: number;
  height?: number;
}

export const FONT = 'Maestro DejaVu Sans';
const fontFile = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../assets/fonts/DejaVuSans.ttf');
let fontRegistered = false;

export function ensureFont(): void {
  if (fontRegistered) return;
  if (!GlobalFonts.registerFromPath(fontFile, FONT)) throw new Error(`could not load the piano-roll font ${fontFile}`);
  fontRegistered = true;
}

const COLORS = {
  background: '#17181c',
  plot: '#1f2127',
  blackKeyRow: '#1a1b20',
  octaveLine: '#33363f',
  grid: '#2a2c33',
  axisText: '#a4a8b3',
  title: '#f1f2f5',
  subtitle: '#9aa0ac',
  pedal: '#7d8594',
  boundary: '#e8e8ec',
};
/** Hue/saturation of each part; velocity sets the lightness. */
const PROMPT_HSL = [212, 85] as const;
const CONT_HSL = [36, 92] as const;

const NOTE_NAMES = ['C', 'C♯', 'D', 'D♯', 'E', 'F', 'F♯', 'G', 'G♯', 'A', 'A♯', 'B'];
const BLACK = new Set([1, 3, 6, 8, 10]);

function noteColor([h, s]: readonly [number, number], velocity: number): string {
  const v = Math.min(127, Math.max(1, velocity)) / 127;
  return `hsl(${h}, ${s}%, ${Math.round(28 + 47 * v)}%)`;
}

/** A "nice" tick step (1, 2, 5 × 10ⁿ s) giving about `target` ticks over `span` seconds. */
export function niceStep(span: number, target = 10): number {
  const raw = Math.max(span, 1e-3) / target;
  const pow = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * pow >= raw) return m * pow;
  return 10 * pow;
}

function formatSeconds(t: number, step: number): string {
  if (step >= 60 && t % 60 === 0) return `${t / 60}:00`;
  if (t >= 60 && step >= 1) {
    const m = Math.floor(t / 60);
    const s = Math.round(t - m * 60);
    return `${m}:${String(s).padStart(2, '0')}`;
  }
  return step < 1 ? t.toFixed(1) : String(Math.round(t));
}

function roundRect(ctx: SKRSContext2D, x: number, y: number, w: number, h: number, r: number): void {
  const rr = Math.max(0, Math.min(r, w / 2, h / 2));
  ctx.beginPath();
  ctx.roundRect(x, y, w, h, rr);
  ctx.fill();
}

export async function renderPianoRoll(input: PianoRollInput): Promise<Uint8Array> {
  ensureFont();
  const width = input.width ?? 1200;
  const height = input.height ?? 600;
  const canvas = createCanvas(width, height);
  const ctx = canvas.getContext('2d');

  const promptNotes: Note[] = input.prompt?.notes ?? [];
  const contNotes: Note[] = input.continuation.notes;
  const allNotes = [...promptNotes, ...contNotes];
  const pedals: PedalSpan[] = [...(input.prompt?.pedals ?? []), ...input.continuation.pedals];

  // Layout (px): caption band on top, pitch labels left, pedal lane and time axis at the bottom.
  const top = 74;
  const left = 52;
  const right = 18;
  const axisH = 34;
  const pedalH = 18;
  const pedalGap = 8;
  const plotX = left;
  const plotW = width - left - right;
  const plotY = top;
  const plotH = height - top - axisH - pedalH - pedalGap - 6;
  const pedalY = plotY + plotH + pedalGap;

  let end = 0;
  for (const n of allNotes) end = Math.max(end, n.endSec);
  for (const p of pedals) end = Math.max(end, p.endSec);
  end = Math.max(end, 1);
  let lo = 127;
  let hi = 0;
  for (const n of allNotes) {
    lo = Math.min(lo, n.pitch);
    hi = Math.max(hi, n.pitch);
  }
  if (allNotes.length === 0) [lo, hi] = [60, 72];
  // At least two octaves, a little headroom, never outside the MIDI range.
  lo -= 2;
  hi += 2;
  while (hi - lo < 24) {
    lo -= 1;
    hi += 1;
  }
  lo = Math.max(0, lo);
  hi = Math.min(127, hi);
  const rows = hi - lo + 1;
  const rowH = plotH / rows;
  const xOf = (t: number) => plotX + (t / end) * plotW;
  const yOf = (pitch: number) => plotY + (hi - pitch) * rowH;

  ctx.fillStyle = COLORS.background;
  ctx.fillRect(0, 0, width, height);
  ctx.fillStyle = COLORS.plot;
  ctx.fillRect(plotX, plotY, plotW, plotH);

  // Pitch rows: shaded black keys, a line and a label at every C.
  ctx.font = `12px "${FONT}"`;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  for (let p = lo; p <= hi; p++) {
    const y = yOf(p);
    if (BLACK.has(p % 12)) {
      ctx.fillStyle = COLORS.blackKeyRow;
      ctx.fillRect(plotX, y, plotW, rowH);
    }
    if (p % 12 === 0) {
      ctx.fillStyle = COLORS.octaveLine;
      ctx.fillRect(plotX, y + rowH - 1, plotW, 1);
      ctx.fillStyle = COLORS.axisText;
      ctx.fillText(`${NOTE_NAMES[0]}${p / 12 - 1}`, plotX - 8, y + rowH / 2);
    }
  }

  // Time grid and axis.
  const step = niceStep(end);
  ctx.textAlign = 'center';
  ctx.textBaseline = 'top';
  for (let t = 0; t <= end + 1e-9; t += step) {
    const x = Math.round(xOf(t)) + 0.5;
    ctx.fillStyle = COLORS.grid;
    ctx.fillRect(x, plotY, 1, plotH);
    ctx.fillStyle = COLORS.axisText;
    ctx.fillText(formatSeconds(Math.round(t * 1000) / 1000, step), x, pedalY + pedalH + 6);
  }
  if (end < 60 || step < 1) {
    ctx.textAlign = 'right';
    ctx.fillText('s', width - 4, pedalY + pedalH + 6);
  }

  // Where Maestro takes over.
  const contStart = contNotes.length > 0 && promptNotes.length > 0 ? Math.min(...contNotes.map((n) => n.startSec)) : undefined;
  if (contStart !== undefined) {
    const x = Math.round(xOf(contStart)) + 0.5;
    ctx.strokeStyle = COLORS.boundary;
    ctx.globalAlpha = 0.55;
    ctx.setLineDash([5, 5]);
    ctx.beginPath();
    ctx.moveTo(x, plotY);
    ctx.lineTo(x, plotY + plotH);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.globalAlpha = 1;
  }

  // Notes: quiet ones dark, loud ones bright; a minimum width so staccato notes stay visible.
  const drawNotes = (notes: Note[], hsl: readonly [number, number]) => {
    for (const n of notes) {
      if (n.pitch < lo || n.pitch > hi) continue;
      const x = xOf(n.startSec);
      const w = Math.max(2, xOf(n.endSec) - x);
      const y = yOf(n.pitch) + 0.5;
      const h = Math.max(1.5, rowH - 1);
      ctx.fillStyle = noteColor(hsl, n.velocity);
      roundRect(ctx, x, y, w, h, Math.min(3, h / 3));
    }
  };
  drawNotes(promptNotes, PROMPT_HSL);
  drawNotes(contNotes, CONT_HSL);

  // Pedal lane.
  ctx.fillStyle = COLORS.plot;
  ctx.fillRect(plotX, pedalY, plotW, pedalH);
  ctx.fillStyle = COLORS.pedal;
  for (const p of pedals) {
    const x = xOf(p.startSec);
    roundRect(ctx, x, pedalY + 4, Math.max(2, xOf(p.endSec) - x), pedalH - 8, 3);
  }
  ctx.fillStyle = COLORS.axisText;
  ctx.textAlign = 'right';
  ctx.textBaseline = 'middle';
  ctx.fillText('Ped.', plotX - 8, pedalY + pedalH / 2);

  // Caption, summary and legend.
  ctx.textAlign = 'left';
  ctx.textBaseline = 'alphabetic';
  ctx.fillStyle = COLORS.title;
  ctx.font = `22px "${FONT}"`;
  const maxCaption = width - left - 330;
  let caption = input.caption;
  while (caption.length > 4 && ctx.measureText(caption).width > maxCaption) caption = `${caption.slice(0, -2)}…`;
  ctx.fillText(caption, left, 34);
  ctx.fillStyle = COLORS.subtitle;
  ctx.font = `14px "${FONT}"`;
  const summary = [
    promptNotes.length > 0 ? `${promptNotes.length} prompt notes${input.promptFromSec ? ` (from ${input.promptFromSec.toFixed(1)} s on)` : ''}` : undefined,
    contNotes.length > 0 ? `${contNotes.length} notes by Maestro` : undefined,
    `${end.toFixed(1)} s`,
  ].filter(Boolean);
  ctx.fillText(summary.join('  ·  '), left, 58);

  const legend: [string, readonly [number, number]][] = [
    ...(promptNotes.length > 0 ? [['your melody', PROMPT_HSL] as [string, readonly [number, number]]] : []),
    ...(contNotes.length > 0 ? [['Maestro', CONT_HSL] as [string, readonly [number, number]]] : []),
  ];
  ctx.font = `14px "${FONT}"`;
  let lx = width - right;
  for (const [label, hsl] of [...legend].reverse()) {
    const w = ctx.measureText(label).width;
    lx -= w;
    ctx.fillStyle = COLORS.axisText;
    ctx.fillText(label, lx, 34);
    lx -= 22;
    ctx.fillStyle = noteColor(hsl, 110);
    roundRect(ctx, lx, 23, 14, 14, 3);
    lx -= 18;
  }
  ctx.fillStyle = COLORS.subtitle;
  ctx.font = `12px "${FONT}"`;
  ctx.textAlign = 'right';
  ctx.fillText('brighter = louder', width - right, 58);

  return new Uint8Array(await canvas.encode('png'));
}
