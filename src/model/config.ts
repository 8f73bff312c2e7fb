/** The shape of a GIGA-Piano-style GPT. Everything the network needs to be rebuilt from its weights. */
export interface ModelConfig {
  /** Token vocabulary (GIGA-Piano: 128). */
  vocabSize: number;
  /** Longest context the model was trained for (learned absolute positions 0..blockSize-1). */
  blockSize: number;
  nLayer: number;
  nHead: number;
  /** Model width; must be divisible by nHead. */
  nEmbd: number;
  /** Hidden width of the feed-forward block (GIGA-Piano uses 1024 = nEmbd). */
  mlpDim: number;
  /** Rows of each layer's relative-position table Er (distances 0..maxRelDist-1 back); ≥ blockSize. */
  maxRelDist: number;
  dropout: number;
  /** Name of the tokenizer the model was trained with (see src/music/tokenizer.ts). */
  tokenizer: string;
}

/** GIGA-Piano as published: 16 layers, 16 heads, width 1024, MLP 1024, block 1024 (≈103 M params). */
export const GIGA_PIANO: ModelConfig = {
  vocabSize: 128,
  blockSize: 1024,
  nLayer: 16,
  nHead: 16,
  nEmbd: 1024,
  mlpDim: 1024,
  maxRelDist: 1024,
  dropout: 0.1,
  tokenizer: 'giga-piano',
};

/** Maestro's CPU-sized model: what trains at ~2 M tokens/hour on one core here. */
export const MAESTRO_SMALL: ModelConfig = {
  vocabSize: 128,
  blockSize: 256,
  nLayer: 6,
  nHead: 4,
  nEmbd: 256,
  mlpDim: 1024,
  maxRelDist: 256,
  dropout: 0.1,
  tokenizer: 'giga-piano',
};

export function validateConfig(c: ModelConfig): ModelConfig {
  const positive: (keyof ModelConfig)[] = ['vocabSize', 'blockSize', 'nLayer', 'nHead', 'nEmbd', 'mlpDim', 'maxRelDist'];
  for (const k of positive) {
    const v = c[k];
    if (typeof v !== 'number' || !Number.isInteger(v) || v <= 0) throw new Error(`model config: ${k} must be a positive integer (got ${String(v)})`);
  }
  if (c.nEmbd % c.nHead !== 0) throw new Error(`model config: nEmbd ${c.nEmbd} is not divisible by nHead ${c.nHead}`);
  if (c.maxRelDist < c.blockSize) throw new Error(`model config: maxRelDist ${c.maxRelDist} must be ≥ blockSize ${c.blockSize}`);
  if (!(c.dropout >= 0 && c.dropout < 1)) throw new Error(`model config: dropout must be in [0, 1) (got ${c.dropout})`);
  if (typeof c.tokenizer !== 'string' || !c.tokenizer) throw new Error('model config: tokenizer name missing');
  return c;
}

/** Number of trainable parameters, for cards and planning. */
export function parameterCount(c: ModelConfig): number {
  const d = c.nEmbd;
  const perLayer = 2 * 2 * d + 4 * (d * d + d) + c.maxRelDist * (d / c.nHead) + (d * c.mlpDim + c.mlpDim) + (c.mlpDim * d + d);
  return c.vocabSize * d + c.blockSize * d + c.nLayer * perLayer + 2 * d + d * c.vocabSize;
}
