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
