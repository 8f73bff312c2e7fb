// The optimizer's and the gradients' elementwise work: AdamW's update, squared norms, and column sums.
//
// Composed of tfjs ops, one AdamW step over the model's 5 M parameters is ~15 passes over memory
// (~60 ms here), and it runs between training steps while the other gradient thread waits; here it is one
// pass. Column sums are every bias and LayerNorm gradient ([rows, width] → [width]).
// Reductions accumulate in double, so their result does not depend on the vector width.
#include "kernels.h"
#include "heap-args.h"
#include <immintrin.h>
#include <cmath>
#include <cstdint>
#include <vector>

namespace {

#define TARGET __attribute__((target("avx2,fma")))

struct AdamWParams {
  float lr, beta1, beta2, bc1, bc2, eps, decay, gradScale;
};

// p' = p·(1 − lr·decay) − lr · m̂ / (√v̂ + eps), with m' = β1·m + (1−β1)·g, v' = β2·v + (1−β2)·g², g scaled
// first (clipping and the average over micro-batches), m̂ = m'/bc1, v̂ = v'/bc2 (bias corrections).
TARGET inline void adamw8(const float* p, const float* g, const float* m, const float* v, float* pOut, float* mOut, float* vOut, const AdamWParams& h) {
  const __m256 gs = _mm256_mul_ps(_mm256_loadu_ps(g), _mm256_set1_ps(h.gradScale));
  const __m256 m1 = _mm256_fmadd_ps(_mm256_set1_ps(h.beta1), _mm256_loadu_ps(m), _mm256_mul_ps(_mm256_set1_ps(1.f - h.beta1), gs));
  const __m256 v1 = _mm256_fmadd_ps(_mm256_set1_ps(h.beta2), _mm256_loadu_ps(v), _mm256_mul_ps(_mm256_set1_ps(1.f - h.beta2), _mm256_mul_ps(gs, gs)));
  const __m256 denom = _mm256_add_ps(_mm256_sqrt_ps(_mm256_div_ps(v1, _mm256_set1_ps(h.bc2))), _mm256_set1_ps(h.eps));
  const __m256 update = _mm256_div_ps(_mm256_div_ps(m1, _mm256_set1_ps(h.bc1)), denom);
  const __m256 decayed = _mm256_mul_ps(_mm256_loadu_ps(p), _mm256_set1_ps(1.f - h.lr * h.decay));
  _mm256_storeu_ps(pOut, _mm256_fnmadd_ps(_mm256_set1_ps(h.lr), update, decayed));
  _mm256_storeu_ps(mOut, m1);
  _mm256_storeu_ps(vOut, v1);
}

TARGET void adamw(const float* p, const float* g, const float* m, const float* v, float* pOut, float* mOut, float* vOut, int64_t n, const AdamWParams& h) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) adamw8(p + i, g + i, m + i, v + i, pOut + i, mOut + i, vOut + i, h);
  if (i == n) return;
  // The tail through the same vector code on zero-padded copies.
  alignas(32) float in[4][8] = {}, out[3][8];
  for (int64_t j = i; j < n; j++) in[0][j - i] = p[j], in[1][j - i] = g[j], in[2][j - i] = m[j], in[3][j - i] = v[j];
  adamw8(in[0], in[1], in[2], in[3], out[0], out[1], out[2], h);
  for (int64_t j = i; j < n; j++) pOut[j] = out[0][j - i], mOut[j] = out[1][j - i], vOut[j] = out[2][j - i];
}

TARGET double sumSquares(const float* x, int64_t n) {
  __m256d acc0 = _mm256_setzero_pd(), acc1 = _mm256_setzero_pd();
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) {
    const __m256 f = _mm256_loadu_ps(x + i);
    const __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(f)), hi = _mm256_cvtps_pd(_mm256_extractf128_ps(f, 1));
    acc0 = _mm256_fmadd_pd(lo, lo, acc0);
    acc1 = _mm256_fmadd_pd(hi, hi, acc1);
  }
  alignas(32) double lanes[4];
  _mm256_store_pd(lanes, _mm256_add_pd(acc0, acc1));
  double s = lanes[0] + lanes[1] + lanes[2] + lanes[3];
  for (; i < n; i++) s += (double)x[i] * x[i];
  return s;
}

// out[c] = Σ_r x[r, c] for a row-major rows × cols matrix.
TARGET void columnSums(const float* x, float* out, int64_t rows, int64_t cols) {
  std::vector<double> acc(cols, 0.0);
  for (int64_t r = 0; r < rows; r++) {
    const float* row = x + r * cols;
    int64_t c = 0;
    for (; c + 4 <= cols; c += 4) _mm256_storeu_pd(&acc[c], _mm256_add_pd(_mm256_loadu_pd(&acc[c]), _mm256_cvtps_pd(_mm_loadu_ps(row + c))));
    for (; c < cols; c++) acc[c] += row[c];
  }
  for (int64_t c = 0; c < cols; c++) out[c] = (float)acc[c];
}

}  // namespace

napi_value AdamW(napi_env env, napi_callback_info info) {
  HeapArgs a;
  if (!readHeapArgs(env, info, "adamw(heap: Float32Array, p, g, m, v, pOut, mOut, vOut, size, hyper: Float32Array[8]) — offsets in floats", 8, a, 8) ||
      !inHeap(env, a, "adamw", {a.v[0], a.v[1], a.v[2], a.v[3], a.v[4], a.v[5], a.v[6]}, a.v[7]))
    return nullptr;
  const float* hp = a.trailing;
  const AdamWParams h{hp[0], hp[1], hp[2], hp[3], hp[4], hp[5], hp[6], hp[7]};
  float* heap = a.heap;
  adamw(heap + (int64_t)a.v[0], heap + (int64_t)a.v[1], heap + (int64_t)a.v[2], heap + (int64_t)a.v[3], heap + (int64_t)a.v[4], heap + (int64_t)a.v[5],
        heap + (int64_t)a.v[6], (int64_t)a.v[7], h);
  return nullptr;
}

napi_value SumSquares(napi_env env, napi_callback_info info) {
  HeapArgs a;
  if (!readHeapArgs(env, info, "sumSquares(heap: Float32Array, xOffset, size)", 2, a) || !inHeap(env, a, "sumSquares", {a.v[0]}, a.v[1])) return nullptr;
  napi_value result;
  napi_create_double(env, sumSquares(a.heap + (int64_t)a.v[0], (int64_t)a.v[1]), &result);
  return result;
}

napi_value ColumnSums(napi_env env, napi_callback_info info) {
  HeapArgs a;
  if (!readHeapArgs(env, info, "columnSums(heap: Float32Array, xOffset, outOffset, rows, cols)", 4, a)) return nullptr;
  const double rows = a.v[2], cols = a.v[3];
  if (!(rows >= 0 && cols >= 0) || !inHeap(env, a, "columnSums", {a.v[0]}, rows * cols) || !inHeap(env, a, "columnSums", {a.v[1]}, cols)) return nullptr;
  columnSums(a.heap + (int64_t)a.v[0], a.heap + (int64_t)a.v[1], (int64_t)rows, (int64_t)cols);
  return nullptr;
}
