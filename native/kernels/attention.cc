// One query per head attending over a key/value cache with Music-Transformer relative embeddings: the
// sampler's per-token attention (GPT.step).
//
// Composed of tfjs ops, each step builds [heads, keys, dim] temporaries four times per layer (k + Er, its product
// with q, the weighted values and their sum), elementwise passes in tfjs' wasm build: with five views × four
// candidates in the batch, replacing them took served sampling from 28 to 45 tokens/s (the other core busy).
// Here each head is one pass over its keys and one over its values:
//
//   s_j = scale · q·(k_j + er_j)   (j < keys; er rows already aligned with the keys, see GPT.step)
//   a   = softmax(s)
//   y   = Σ_j a_j · v_j
#include "kernels.h"
#include "heap-args.h"
#include <immintrin.h>
#include <cmath>
#include <vector>

namespace {

#define TARGET __attribute__((target("avx2,fma")))

// q·(k + e) over `dim` floats: eight lanes at a time (a plain loop is not vectorised: float sums are not reordered
// without -ffast-math), then the tail.
TARGET inline float dotSum(const float* q, const float* k, const float* e, int dim) {
  __m256 acc = _mm256_setzero_ps();
  int d = 0;
  for (; d + 8 <= dim; d += 8) acc = _mm256_fmadd_ps(_mm256_loadu_ps(q + d), _mm256_add_ps(_mm256_loadu_ps(k + d), _mm256_loadu_ps(e + d)), acc);
  const __m128 half = _mm_add_ps(_mm256_castps256_ps128(acc), _mm256_extractf128_ps(acc, 1));
  const __m128 quarter = _mm_add_ps(half, _mm_movehl_ps(half, half));
  float sum = _mm_cvtss_f32(_mm_add_ss(quarter, _mm_shuffle_ps(quarter, quarter, 1)));
  for (; d < dim; d++) sum += q[d] * (k[d] + e[d]);
  return sum;
}

// The keys and values come in two parts (the cache's settled rows and its recent ones, see GPT.step), keys0 then keys1.
TARGET void attendOne(const float* q, const float* k0, const float* v0, int keys0, const float* k1, const float* v1, int keys1, const float* er,
                      float* y, int heads, int dim, float scale) {
  const int keys = keys0 + keys1;
  std::vector<float> s(keys);
  for (int h = 0; h < heads; h++) {
    const float* qh = q + (size_t)h * dim;
    // Key j of head h: row j of part 0, or row j − keys0 of part 1.
    auto key = [&](const float* p0, const float* p1, int j) {
      return j < keys0 ? p0 + ((size_t)h * keys0 + j) * dim : p1 + ((size_t)h * keys1 + (j - keys0)) * dim;
    };
    float max = -INFINITY;
    for (int j = 0; j < keys; j++) {
      s[j] = dotSum(qh, key(k0, k1, j), er + (size_t)j * dim, dim) * scale;
      if (s[j] > max) max = s[j];
    }
    float sum = 0.f;
    for (int j = 0; j < keys; j++) sum += (s[j] = std::exp(s[j] - max));
    float* yh = y + (size_t)h * dim;
    for (int d = 0; d < dim; d++) yh[d] = 0.f;
    for (int j = 0; j < keys; j++) {
      const float a = s[j] / sum;
      const float* vj = key(v0, v1, j);
      for (int d = 0; d < dim; d++) yh[d] += a * vj[d];
    }
  }
}

}  // namespace

// attendOne(heap, qOffset, k0Offset, v0Offset, keys0, k1Offset, v1Offset, keys1, erOffset, yOffset, heads, dim, scale)
// q [heads, dim]; k0, v0 [heads, keys0, dim]; k1, v1 [heads, keys1, dim]; er [keys0 + keys1, dim]; y [heads, dim].
// Offsets in floats.
napi_value AttendOne(napi_env env, napi_callback_info info) {
  HeapArgs a;
  const char* name = "attendOne";
  if (!readHeapArgs(env, info, "attendOne(heap: Float32Array, qOffset, k0Offset, v0Offset, keys0, k1Offset, v1Offset, keys1, erOffset, yOffset, heads, dim, scale)", 12, a))
    return nullptr;
  const double keys0 = a.v[3], keys1 = a.v[6], heads = a.v[9], dim = a.v[10];
  const auto count = [](double x, double least) { return x >= least && x == std::floor(x) && x < 1e9; };
  if (!count(keys0, 0) || !count(keys1, 0) || keys0 + keys1 < 1 || !count(heads, 1) || !count(dim, 1)) {
    napi_throw_range_error(env, nullptr, "attendOne: keys must be whole numbers with at least one key; heads and dim positive integers");
    return nullptr;
  }
  if (!inHeap(env, a, name, {a.v[0], a.v[8]}, heads * dim) || !inHeap(env, a, name, {a.v[1], a.v[2]}, heads * keys0 * dim) ||
      !inHeap(env, a, name, {a.v[4], a.v[5]}, heads * keys1 * dim) || !inHeap(env, a, name, {a.v[7]}, (keys0 + keys1) * dim))
    return nullptr;
  const float* h = a.heap;
  attendOne(h + (size_t)a.v[0], h + (size_t)a.v[1], h + (size_t)a.v[2], (int)keys0, h + (size_t)a.v[4], h + (size_t)a.v[5], (int)keys1,
            h + (size_t)a.v[7], a.heap + (size_t)a.v[8], (int)heads, (int)dim, (float)a.v[11]);
  return nullptr;
}
