/**
 * Line charts as PNG (like the thesis' loss figures): training loss and validation loss against tokens
 * seen, and the LR finder's loss against learning rate. Uses the piano roll's bundled font.
 */
import { createCanvas } from '@napi-rs/canvas';
import { FONT, ensureFont } from '../src/render/piano-roll.js';

export interface Series {
  label: string;
  colour: string;
  points: [number, number][];
}

export interface ChartOptions {
  title: string;
  xLabel: string;
  yLabel: string;
  logX?: boolean;
  width?: number;
  height?: number;
}

export function lineChart(series: Series[], o: ChartOptions): Uint8Array {
  ensureFont();
  const W = o.width ?? 900, H = o.height ?? 500;
  const m = { l: 84, r: 20, t: 50, b: 55 };
  const canvas = createCanvas(W, H);
  const g = canvas.getContext('2d');
  g.fillStyle = '#ffffff';
  g.fillRect(0, 0, W, H);
  const all = series.flatMap((s) => s.points).filter(([x, y]) => Number.isFinite(x) && Number.isFinite(y) && (!o.logX || x > 0));
  if (all.length === 0) throw new Error('nothing to plot');
  const fx = (x: number) => (o.logX ? Math.log10(x) : x);
  const xs = all.map(([x]) => fx(x));
  const ys = all.map(([, y]) => y);
  const [x0, x1] = [Math.min(...xs), Math.max(...xs) || 1];
  const [y0, y1] = [Math.min(...ys), Math.max(...ys)];
  const pad = (y1 - y0) * 0.05 || 0.5;
  const sx = (x: number) => m.l + ((fx(x) - x0) / (x1 - x0 || 1)) * (W - m.l - m.r);
  const sy = (y: number) => H - m.b - ((y - (y0 - pad)) / (y1 - y0 + 2 * pad)) * (H - m.t - m.b);

  g.strokeStyle = '#dddddd';
  g.fillStyle = '#333333';
  g.font = `13px "${FONT}"`;
  g.lineWidth = 1;
  for (let i = 0; i <= 5; i++) {
    const y = y0 - pad + ((y1 - y0 + 2 * pad) * i) / 5;
    g.beginPath();
    g.moveTo(m.l, sy(y));
    g.lineTo(W - m.r, sy(y));
    g.stroke();
    g.textAlign = 'right';
    g.fillText(y.toFixed(2), m.l - 6, sy(y) + 4);
    g.textAlign = 'left';
  }
  for (let i = 0; i <= 5; i++) {
    const xv = x0 + ((x1 - x0) * i) / 5;
    const label = o.logX ? `1e${xv.toFixed(1)}` : xv >= 1e6 ? `${(xv / 1e6).toFixed(1)}M` : xv >= 1e3 ? `${(xv / 1e3).toFixed(0)}k` : xv.toFixed(0);
    g.fillText(label, m.l + ((W - m.l - m.r) * i) / 5 - 12, H - m.b + 20);
  }
  g.font = `bold 16px "${FONT}"`;
  g.fillText(o.title, m.l, 30);
  g.font = `13px "${FONT}"`;
  g.fillText(o.xLabel, W / 2 - 40, H - 12);
  g.save();
  g.translate(18, H / 2 + 80);
  g.rotate(-Math.PI / 2);
  g.fillText(o.yLabel, 0, 0);
  g.restore();

  series.forEach((s, i) => {
    const pts = s.points.filter(([x, y]) => Number.isFinite(y) && (!o.logX || x > 0));
    g.strokeStyle = s.colour;
    g.lineWidth = 2;
    g.beginPath();
    pts.forEach(([x, y], j) => (j === 0 ? g.moveTo(sx(x), sy(y)) : g.lineTo(sx(x), sy(y))));
    g.stroke();
    g.fillStyle = s.colour;
    g.fillRect(W - m.r - 170, m.t + 8 + i * 20, 14, 4);
    g.fillStyle = '#333333';
    g.fillText(s.label, W - m.r - 150, m.t + 14 + i * 20);
  });
  return canvas.toBuffer('image/png');
}

/** The loss-curve figure of a run, from its metrics.jsonl lines. */
export function lossCurve(records: { tokens: number; loss: number; valLoss?: number }[], title: string): Uint8Array {
  // Smooth the noisy per-step training loss with a running mean over ~2 % of the run.
  const k = Math.max(1, Math.round(records.length / 50));
  const smooth = records.map((r, i) => {
    const w = records.slice(Math.max(0, i - k + 1), i + 1);
    return [r.tokens, w.reduce((a, b) => a + b.loss, 0) / w.length] as [number, number];
  });
  const val = records.filter((r) => r.valLoss !== undefined).map((r) => [r.tokens, r.valLoss!] as [number, number]);
  return lineChart(
    [
      { label: 'training loss', colour: '#1f77b4', points: smooth },
      { label: 'validation loss', colour: '#d62728', points: val },
    ],
    { title, xLabel: 'tokens seen', yLabel: 'cross-entropy (nats/token)' },
  );
}
