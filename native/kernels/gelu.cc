// GELU (tanh approximation) and its gradient, fused, for the model's MLPs.
//
// Composed from tfjs ops, GELU is nine elementwise passes forward and about twice that backward, and its
// tanh is scalar code in tfjs' wasm build: together ~15 % of a training step. Here each direction is one
// AVX2 pass, with tanh as a rational function (Eigen's fast float tanh:
// clamped to ±7.9, where float32 tanh is already ±1; within a few ulp of tanh inside).
//
//   y  = ½·x·(1 + t),  t = tanh(u),  u = √(2/π)·(x + 0.044715·x³)
//   dy/dx = ½·(1 + t) + ½·x·(1 − t²)·√(2/π)·(1 + 3·0.044715·x²)
#include "kernels.h"
#include "heap-args.h"
#include <immintrin.h>
#include <cstdint>

namespace {

constexpr float kSqrt2OverPi = 0.7978845608028654f;
constexpr float kCubic = 0.044715f;
// Where Eigen's approximation reaches ±1 (in float32); inputs beyond it are clamped.
constexpr float kTanhClamp = 7.90531110763549805f;

using Vec = __m256;
#define TARGET __attribute__((target("avx2,fma")))

TARGET inline Vec splat(float v) { return _mm256_set1_ps(v); }

// tanh(x) for 8 floats: Eigen's rational approximation (odd degree-13 numerator, even degree-6 denominator).
TARGET inline Vec tanh8(Vec x) {
  const Vec clamp = splat(kTanhClamp);
  const Vec c = _mm256_max_ps(_mm256_min_ps(x, clamp), _mm256_sub_ps(_mm256_setzero_ps(), clamp));
  const Vec x2 = _mm256_mul_ps(c, c);
  Vec p = _mm256_fmadd_ps(x2, splat(-2.76076847742355e-16f), splat(2.00018790482477e-13f));
  p = _mm256_fmadd_ps(x2, p, splat(-8.60467152213735e-11f));
  p = _mm256_fmadd_ps(x2, p, splat(5.12229709037114e-08f));
  p = _mm256_fmadd_ps(x2, p, splat(1.48572235717979e-05f));
  p = _mm256_fmadd_ps(x2, p, splat(6.37261928875436e-04f));
  p = _mm256_fmadd_ps(x2, p, splat(4.89352455891786e-03f));
  p = _mm256_mul_ps(c, p);
  Vec q = _mm256_fmadd_ps(x2, splat(1.19825839466702e-06f), splat(1.18534705686654e-04f));
  q = _mm256_fmadd_ps(x2, q, splat(2.26843463243900e-03f));
  q = _mm256_fmadd_ps(x2, q, splat(4.89352518554385e-03f));
  // Where |x| is tiny, tanh x = x to float precision (the quotient would round it); where x is NaN, pass
  // it on — min/max return their second operand for NaN, which would have turned it into ±1 and hidden a
  // diverging run.
  const Vec abs = _mm256_andnot_ps(splat(-0.f), x);
  const Vec keepX = _mm256_or_ps(_mm256_cmp_ps(abs, splat(0.0004f), _CMP_LT_OQ), _mm256_cmp_ps(x, x, _CMP_UNORD_Q));
  return _mm256_blendv_ps(_mm256_div_ps(p, q), x, keepX);
}

// u = √(2/π)·(x + 0.044715·x³).
TARGET inline Vec geluInner(Vec x, Vec x2) {
  return _mm256_mul_ps(splat(kSqrt2OverPi), _mm256_fmadd_ps(_mm256_mul_ps(splat(kCubic), x2), x, x));
}

TARGET inline Vec geluForward8(Vec x) {
  const Vec t = tanh8(geluInner(x, _mm256_mul_ps(x, x)));
  return _mm256_mul_ps(_mm256_mul_ps(splat(0.5f), x), _mm256_add_ps(splat(1.f), t));
}

TARGET inline Vec geluBackward8(Vec x, Vec dy) {
  const Vec x2 = _mm256_mul_ps(x, x);
  const Vec u = geluInner(x, x2);
  // Past the clamp tanh is ±1 to float precision, so take it as exactly ±1: the clamped value's 1 − t²
  // (~5e-7) would otherwise be multiplied by a factor growing as x³ (0.00005 off at x = −12).
  const Vec saturated = _mm256_cmp_ps(_mm256_andnot_ps(splat(-0.f), u), splat(kTanhClamp), _CMP_GE_OQ);
  const Vec t = _mm256_blendv_ps(tanh8(u), _mm256_or_ps(splat(1.f), _mm256_and_ps(splat(-0.f), u)), saturated);
  const Vec half = splat(0.5f), one = splat(1.f);
  const Vec dudx = _mm256_mul_ps(splat(kSqrt2OverPi), _mm256_fmadd_ps(splat(3.f * kCubic), x2, one));
  const Vec sech2 = _mm256_fnmadd_ps(t, t, one); // 1 − t²
  const Vec slope = _mm256_fmadd_ps(_mm256_mul_ps(_mm256_mul_ps(half, x), sech2), dudx, _mm256_mul_ps(half, _mm256_add_ps(one, t)));
  return _mm256_mul_ps(dy, slope);
}

// The last n % 8 elements go through the same vector code via a zero-padded copy, so every element is
// computed identically wherever it lies.
TARGET void geluForward(const float* x, float* y, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(y + i, geluForward8(_mm256_loadu_ps(x + i)));
  if (i < n) {
    alignas(32) float tail[8] = {};
    for (int64_t j = i; j < n; j++) tail[j - i] = x[j];
    _mm256_store_ps(tail, geluForward8(_mm256_load_ps(tail)));
    for (int64_t j = i; j < n; j++) y[j] = tail[j - i];
  }
}

TARGET void geluBackward(const float* x, const float* dy, float* dx, int64_t n) {
  int64_t i = 0;
  for (; i + 8 <= n; i += 8) _mm256_storeu_ps(dx + i, geluBackward8(_mm256_loadu_ps(x + i), _mm256_loadu_ps(dy + i)));
  if (i < n) {
    alignas(32) float tx[8] = {}, tdy[8] = {};
    for (int64_t j = i; j < n; j++) tx[j - i] = x[j], tdy[j - i] = dy[j];
    _mm256_store_ps(tx, geluBackward8(_mm256_load_ps(tx), _mm256_load_ps(tdy)));
    for (int64_t j = i; j < n; j++) dx[j] = tx[j - i];
  }
}

}  // namespace

napi_value Gelu(napi_env env, napi_callback_info info) {
  HeapArgs a;
  if (!readHeapArgs(env, info, "gelu(heap: Float32Array, xOffset, yOffset, size)", 3, a) || !inHeap(env, a, "gelu", {a.v[0], a.v[1]}, a.v[2])) return nullptr;
  geluForward(a.heap + (int64_t)a.v[0], a.heap + (int64_t)a.v[1], (int64_t)a.v[2]);
  return nullptr;
}

napi_value GeluGrad(napi_env env, napi_callback_info info) {
  HeapArgs a;
  if (!readHeapArgs(env, info, "geluGrad(heap: Float32Array, xOffset, dyOffset, dxOffset, size)", 4, a) ||
      !inHeap(env, a, "gelu", {a.v[0], a.v[1], a.v[2]}, a.v[3]))
    return nullptr;
  geluBackward(a.heap + (int64_t)a.v[0], a.heap + (int64_t)a.v[1], a.heap + (int64_t)a.v[2], (int64_t)a.v[3]);
  return nullptr;
}
