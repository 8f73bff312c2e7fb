/**
 * Growing a trained model deeper without starting over. Pre-training a larger model from scratch costs
 * many CPU-days here; instead a trained model is deepened so that it starts as exactly the same function
 * and training continues from there (the depth half of function-preserving growth: Net2Net, Chen et al.
 * 2016; progressive stacking, Gong et al. 2019).
 *
 * Each old block is followed by copies of itself whose two output projections (attn.o, mlp.proj) are zero:
 * a block adds its output to the residual stream, so a block that outputs zero is the identity. The copy's
 * other weights start where the block it follows already works well, and its output projections get a
 * gradient from the first step (their inputs are not zero), so the new depth is used as soon as it helps.
 */
import * as tf from '@tensorflow/tfjs';
import { GPT, toVariables } from './gpt.js';

/** The weights that write a block's output into the residual stream. */
const OUTPUT_PROJECTIONS = ['attn.o.w', 'attn.o.b', 'mlp.proj.w', 'mlp.proj.b'];

/**
 * Which old block each new block copies, and whether it is the original (weights kept) or an added copy
 * (output projections zeroed). Old block i fills new blocks ⌊i·n/old⌋ … ⌊(i+1)·n/old⌋ − 1, in order.
 */
export function depthPlan(oldLayers: number, newLayers: number): { from: number; original: boolean }[] {
  if (!Number.isInteger(newLayers) || newLayers < oldLayers) throw new Error(`can only deepen: ${newLayers} layers < the model's ${oldLayers}`);
  const plan: { from: number; original: boolean }[] = [];
  for (let i = 0; i < oldLayers; i++) {
    const count = Math.floor(((i + 1) * newLayers) / oldLayers) - Math.floor((i * newLayers) / oldLayers);
    for (let c = 0; c < count; c++) plan.push({ from: i, original: c === 0 });
  }
  return plan;
}

/** A new model with `nLayer` blocks computing the same function as `model` (which is left untouched). */
export function deepen(model: GPT, nLayer: number): GPT {
  const plan = depthPlan(model.config.nLayer, nLayer);
  const tensors: Record<string, tf.Tensor> = {};
  for (const [name, v] of Object.entries(model.weights)) if (!/^h\d+\./.test(name)) tensors[name] = v.clone();
  plan.forEach(({ from, original }, l) => {
    for (const [name, v] of Object.entries(model.weights)) {
      const m = /^h(\d+)\.(.+)$/.exec(name);
      if (!m || Number(m[1]) !== from) continue;
      const zeroed = !original && OUTPUT_PROJECTIONS.includes(m[2]);
      tensors[`h${l}.${m[2]}`] = zeroed ? tf.zerosLike(v) : v.clone();
    }
  });
  return new GPT({ ...model.config, nLayer }, toVariables(tensors));
}
