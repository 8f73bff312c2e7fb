/**
 * Multinomial logistic regression with L2 regularisation on standardised features, in plain TypeScript.
 * The loss is convex, so full-batch gradient descent with Nesterov momentum reaches the optimum
 * deterministically (no random initialisation, no shuffling): the same data gives the same weights.
 */

export interface Standardiser {
  mean: number[];
  std: number[];
}

export interface LogisticModel {
  classes: string[];
  featureNames: string[];
  standardiser: Standardiser;
  /** weights[c][f] for class c, standardised feature f. */
  weights: number[][];
  bias: number[];
  l2: number;
}

export interface TrainOptions {
  /** L2 penalty λ on the weights (not the bias), loss = mean weighted NLL + λ/2 ‖W‖². */
  l2?: number;
  iterations?: number;
  learningRate?: number;
  /** Per-example weights (e.g. to balance classes); default 1. */
  sampleWeights?: number[];
}

export function fitStandardiser(rows: readonly number[][]): Standardiser {
  const d = rows[0]?.length ?? 0;
  const mean = new Array<number>(d).fill(0);
  const std = new Array<number>(d).fill(0);
  for (const r of rows) for (let j = 0; j < d; j++) mean[j] += r[j];
  for (let j = 0; j < d; j++) mean[j] /= Math.max(rows.length, 1);
  for (const r of rows) for (let j = 0; j < d; j++) std[j] += (r[j] - mean[j]) ** 2;
  // A constant feature gets std 1 so it standardises to 0 instead of dividing by zero.
  for (let j = 0; j < d; j++) std[j] = Math.sqrt(std[j] / Math.max(rows.length, 1)) || 1;
  return { mean, std };
}

export function standardise(s: Standardiser, row: readonly number[]): number[] {
  return row.map((v, j) => (v - s.mean[j]) / s.std[j]);
}

function softmaxInPlace(z: number[]): number[] {
  const m = Math.max(...z);
  let sum = 0;
  for (let i = 0; i < z.length; i++) {
    z[i] = Math.exp(z[i] - m);
    sum += z[i];
  }
  for (let i = 0; i < z.length; i++) z[i] /= sum;
  return z;
}

function logits(weights: number[][], bias: number[], x: readonly number[]): number[] {
  return weights.map((w, c) => {
    let s = bias[c];
    for (let j = 0; j < x.length; j++) s += w[j] * x[j];
    return s;
  });
}

/** Largest eigenvalue of XᵀX/n by power iteration (deterministic start). */
function largestEigenvalue(x: readonly number[][]): number {
  const d = x[0].length;
  let v = new Array<number>(d).fill(1 / Math.sqrt(d));
  let lambda = 0;
  for (let it = 0; it < 50; it++) {
    const next = new Array<number>(d).fill(0);
    for (const row of x) {
      let dot = 0;
      for (let j = 0; j < d; j++) dot += row[j] * v[j];
      for (let j = 0; j < d; j++) next[j] += (dot * row[j]) / x.length;
    }
    const norm = Math.sqrt(next.reduce((a, b) => a + b * b, 0));
    if (norm === 0) return 0;
    lambda = norm;
    v = next.map((e) => e / norm);
  }
  return lambda;
}

/** Class labels are indices into `classes`. */
export function trainLogistic(
  rows: readonly number[][],
  labels: readonly number[],
  classes: readonly string[],
  featureNames: readonly string[],
  opts: TrainOptions = {},
): LogisticModel {
  if (rows.length === 0) throw new Error('trainLogistic: no training examples');
  if (rows.length !== labels.length) throw new Error('trainLogistic: rows and labels differ in length');
  const l2 = opts.l2 ?? 1e-2;
  const iterations = opts.iterations ?? 600;
  const standardiser = fitStandardiser(rows);
  const x = rows.map((r) => standardise(standardiser, r));
  // Step 1/L with L the gradient's Lipschitz bound (softmax curvature ≤ 1/2 times the data's largest
  // eigenvalue, plus λ), so the iteration cannot diverge however correlated the features are.
  const lr = opts.learningRate ?? 1 / (0.5 * largestEigenvalue(x) + 0.5 + l2);
  const k = classes.length;
  const d = featureNames.length;
  const sw = opts.sampleWeights ?? rows.map(() => 1);
  const totalWeight = sw.reduce((a, b) => a + b, 0);

  let w = Array.from({ length: k }, () => new Array<number>(d).fill(0));
  let b = new Array<number>(k).fill(0);
  let wPrev = w.map((r) => [...r]);
  let bPrev = [...b];
  for (let it = 0; it < iterations; it++) {
    // Nesterov look-ahead point.
    const mom = it / (it + 3);
    const wl = w.map((r, c) => r.map((v, j) => v + mom * (v - wPrev[c][j])));
    const bl = b.map((v, c) => v + mom * (v - bPrev[c]));
    const gw = Array.from({ length: k }, () => new Array<number>(d).fill(0));
    const gb = new Array<number>(k).fill(0);
    for (let i = 0; i < x.length; i++) {
      const p = softmaxInPlace(logits(wl, bl, x[i]));
      const scale = sw[i] / totalWeight;
      for (let c = 0; c < k; c++) {
        const g = (p[c] - (labels[i] === c ? 1 : 0)) * scale;
        gb[c] += g;
        const row = gw[c];
        const xi = x[i];
        for (let j = 0; j < d; j++) row[j] += g * xi[j];
      }
    }
    wPrev = w;
    bPrev = b;
    w = wl.map((r, c) => r.map((v, j) => v - lr * (gw[c][j] + l2 * v)));
    b = bl.map((v, c) => v - lr * gb[c]);
  }
  return { classes: [...classes], featureNames: [...featureNames], standardiser, weights: w, bias: b, l2 };
}

export function predictProba(model: LogisticModel, row: readonly number[]): number[] {
  return softmaxInPlace(logits(model.weights, model.bias, standardise(model.standardiser, row)));
}

export function predictClass(model: LogisticModel, row: readonly number[]): number {
  const p = predictProba(model, row);
  let best = 0;
  for (let c = 1; c < p.length; c++) if (p[c] > p[best]) best = c;
  return best;
}
