// Maestro's native kernels for tfjs' wasm backend: the N-API functions module.cc exports.
// Each reads and writes float32 tensors where they lie in the wasm heap, handed over as a Float32Array.
#pragma once
#include <node_api.h>

// gemm(heap, aOffset, bOffset, cOffset, batch, m, n, k, transA, transB, aBatchStride, bBatchStride) — gemm.cc
napi_value Gemm(napi_env env, napi_callback_info info);
// gelu(heap, xOffset, yOffset, size) — gelu.cc
napi_value Gelu(napi_env env, napi_callback_info info);
// geluGrad(heap, xOffset, dyOffset, dxOffset, size) — gelu.cc
napi_value GeluGrad(napi_env env, napi_callback_info info);
// adamw(heap, p, g, m, v, pOut, mOut, vOut, size, hyper: Float32Array [lr, β1, β2, bc1, bc2, eps, decay, gradScale]) — optim.cc
napi_value AdamW(napi_env env, napi_callback_info info);
// sumSquares(heap, xOffset, size) → Σ x² (in double) — optim.cc
napi_value SumSquares(napi_env env, napi_callback_info info);
// columnSums(heap, xOffset, outOffset, rows, cols): out[c] = Σ_r x[r, c] — optim.cc
napi_value ColumnSums(napi_env env, napi_callback_info info);
// dropout(heap, xOffset, yOffset, size, seed, rate): y = x·keep(seed, i)/(1 − rate); also its own gradient — dropout.cc
napi_value Dropout(napi_env env, napi_callback_info info);
// attendOne(heap, qOffset, k0Offset, v0Offset, keys0, k1Offset, v1Offset, keys1, erOffset, yOffset, heads, dim, scale):
// one query per head over a KV cache in two parts — attention.cc
napi_value AttendOne(napi_env env, napi_callback_info info);
