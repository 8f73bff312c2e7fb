// Maestro's native matrix product for tfjs' wasm backend (see src/model/native-kernels.ts; module.cc exports it).
//
// tfjs' wasm backend multiplies matrices with XNNPACK compiled to 128-bit wasm SIMD, one core per thread:
// ~20 GFLOP/s here, while the same core does ~85 with AVX2 + FMA. Training spends ~75 % of its time in
// matrix products, so this addon computes them natively, reading and writing the operands where they
// already are — inside the wasm heap, which JS hands over as a Float32Array (no copies).
//
// The algorithm is the textbook one of BLIS / GotoBLAS: blocks of A (MC × KC) and B (KC × NC) are packed
// into contiguous strips (transposes are absorbed by the packing), and a 6 × 16 register-tile kernel with
// fused multiply-adds computes C from them. Without AVX2/FMA the addon says so and Maestro keeps XNNPACK.
#include "kernels.h"
#include <immintrin.h>
#include <cstdint>
#include <cstdlib>
#include <cstring>

namespace {

constexpr int MR = 6, NR = 16;
constexpr int KC = 256, MC = 96, NC = 2048;

float* aligned(size_t floats) { return static_cast<float*>(std::aligned_alloc(64, ((floats * 4 + 63) / 64) * 64)); }

// One pair of packing buffers per thread (worker threads load the addon each in their own context), freed
// when the thread ends: evaluation threads come and go.
struct PackBuffers {
  float* a = aligned((size_t)MC * KC);
  float* b = aligned((size_t)KC * NC);
  ~PackBuffers() {
    std::free(a);
    std::free(b);
  }
};
thread_local PackBuffers pack;

struct Operand {
  const float* p;
  int ld;     // leading dimension as stored
  bool trans; // stored transposed
  // Element (row r, column c) of the logical (untransposed) matrix.
  float at(int r, int c) const { return trans ? p[(size_t)c * ld + r] : p[(size_t)r * ld + c]; }
};

// A[i0 .. i0+mc) × [p0 .. p0+kc) into strips of MR rows: strip s holds, for each p, MR consecutive values.
void pack_a(const Operand& A, int i0, int mc, int p0, int kc, float* dst) {
  for (int s = 0; s < mc; s += MR) {
    const int rows = mc - s < MR ? mc - s : MR;
    for (int p = 0; p < kc; p++) {
      for (int i = 0; i < rows; i++) *dst++ = A.at(i0 + s + i, p0 + p);
      for (int i = rows; i < MR; i++) *dst++ = 0.f;
    }
  }
}

// B[p0 .. p0+kc) × [j0 .. j0+nc) into strips of NR columns.
void pack_b(const Operand& B, int p0, int kc, int j0, int nc, float* dst) {
  for (int s = 0; s < nc; s += NR) {
    const int cols = nc - s < NR ? nc - s : NR;
    if (!B.trans && cols == NR) {
      for (int p = 0; p < kc; p++, dst += NR) std::memcpy(dst, B.p + (size_t)(p0 + p) * B.ld + j0 + s, NR * sizeof(float));
      continue;
    }
    for (int p = 0; p < kc; p++) {
      for (int j = 0; j < cols; j++) *dst++ = B.at(p0 + p, j0 + s + j);
      for (int j = cols; j < NR; j++) *dst++ = 0.f;
    }
  }
}

// C[MR × NR tile] (+)= Ap · Bp over kc; only the top-left rows × cols of the tile are written.
__attribute__((target("avx2,fma"))) void kernel(int kc, const float* Ap, const float* Bp, float* C, int ldc, int rows, int cols, bool accumulate) {
  __m256 c[MR][2];
  for (int i = 0; i < MR; i++) c[i][0] = c[i][1] = _mm256_setzero_ps();
  for (int p = 0; p < kc; p++, Ap += MR, Bp += NR) {
    const __m256 b0 = _mm256_load_ps(Bp), b1 = _mm256_load_ps(Bp + 8);
    for (int i = 0; i < MR; i++) {
      const __m256 a = _mm256_broadcast_ss(Ap + i);
      c[i][0] = _mm256_fmadd_ps(a, b0, c[i][0]);
      c[i][1] = _mm256_fmadd_ps(a, b1, c[i][1]);
    }
  }
  if (rows == MR && cols == NR) {
    for (int i = 0; i < MR; i++) {
      float* row = C + (size_t)i * ldc;
      if (accumulate) {
        c[i][0] = _mm256_add_ps(c[i][0], _mm256_loadu_ps(row));
        c[i][1] = _mm256_add_ps(c[i][1], _mm256_loadu_ps(row + 8));
      }
      _mm256_storeu_ps(row, c[i][0]);
      _mm256_storeu_ps(row + 8, c[i][1]);
    }
    return;
  }
  alignas(32) float tile[MR][NR];
  for (int i = 0; i < MR; i++) {
    _mm256_store_ps(tile[i], c[i][0]);
    _mm256_store_ps(tile[i] + 8, c[i][1]);
  }
  for (int i = 0; i < rows; i++)
    for (int j = 0; j < cols; j++) C[(size_t)i * ldc + j] = accumulate ? C[(size_t)i * ldc + j] + tile[i][j] : tile[i][j];
}

// C (m × n, row-major, contiguous) = op(A) · op(B).
void gemm(const Operand& A, const Operand& B, float* C, int m, int n, int k) {
  float* packA = pack.a;
  float* packB = pack.b;
  if (k == 0) {
    std::memset(C, 0, sizeof(float) * (size_t)m * n);
    return;
  }
  for (int j0 = 0; j0 < n; j0 += NC) {
    const int nc = n - j0 < NC ? n - j0 : NC;
    for (int p0 = 0; p0 < k; p0 += KC) {
      const int kc = k - p0 < KC ? k - p0 : KC;
      pack_b(B, p0, kc, j0, nc, packB);
      for (int i0 = 0; i0 < m; i0 += MC) {
        const int mc = m - i0 < MC ? m - i0 : MC;
        pack_a(A, i0, mc, p0, kc, packA);
        for (int jr = 0; jr < nc; jr += NR)
          for (int ir = 0; ir < mc; ir += MR)
            kernel(kc, packA + (size_t)ir * kc, packB + (size_t)jr * kc, C + (size_t)(i0 + ir) * n + j0 + jr, n,
                   mc - ir < MR ? mc - ir : MR, nc - jr < NR ? nc - jr : NR, p0 > 0);
      }
    }
  }
}

}  // namespace

#define CHECK(call) if ((call) != napi_ok) { napi_throw_error(env, nullptr, "gemm: bad arguments"); return nullptr; }

// gemm(heap: Float32Array, aOffset, bOffset, cOffset, batch, m, n, k, transA, transB, aBatchStride, bBatchStride)
// Offsets and strides count floats from the start of `heap`; a batch stride of 0 broadcasts that operand.
napi_value Gemm(napi_env env, napi_callback_info info) {
  size_t argc = 12;
  napi_value argv[12];
  CHECK(napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr));
  if (argc != 12) {
    napi_throw_error(env, nullptr, "gemm: expected 12 arguments");
    return nullptr;
  }
  napi_typedarray_type type;
  size_t length;
  void* data;
  CHECK(napi_get_typedarray_info(env, argv[0], &type, &length, &data, nullptr, nullptr));
  if (type != napi_float32_array) {
    napi_throw_type_error(env, nullptr, "gemm: heap must be a Float32Array");
    return nullptr;
  }
  double v[7];
  for (int i = 0; i < 7; i++) CHECK(napi_get_value_double(env, argv[1 + i], &v[i]));
  bool transA, transB;
  CHECK(napi_get_value_bool(env, argv[8], &transA));
  CHECK(napi_get_value_bool(env, argv[9], &transB));
  double strideA, strideB;
  CHECK(napi_get_value_double(env, argv[10], &strideA));
  CHECK(napi_get_value_double(env, argv[11], &strideB));
  const int64_t aOff = (int64_t)v[0], bOff = (int64_t)v[1], cOff = (int64_t)v[2];
  const int batch = (int)v[3], m = (int)v[4], n = (int)v[5], k = (int)v[6];
  const int64_t last = (int64_t)length;
  const int64_t aEnd = aOff + (int64_t)strideA * (batch - 1) + (int64_t)m * k;
  const int64_t bEnd = bOff + (int64_t)strideB * (batch - 1) + (int64_t)k * n;
  const int64_t cEnd = cOff + (int64_t)m * n * batch;
  if (batch < 1 || m < 1 || n < 1 || k < 0 || aOff < 0 || bOff < 0 || cOff < 0 || strideA < 0 || strideB < 0 ||
      aEnd > last || bEnd > last || cEnd > last) {
    napi_throw_range_error(env, nullptr, "gemm: operands outside the heap");
    return nullptr;
  }
  if (!pack.a || !pack.b) {
    napi_throw_error(env, nullptr, "gemm: no memory for the packing buffers");
    return nullptr;
  }
  float* heap = static_cast<float*>(data);
  for (int b = 0; b < batch; b++) {
    const Operand A{heap + aOff + (int64_t)strideA * b, transA ? m : k, transA};
    const Operand B{heap + bOff + (int64_t)strideB * b, transB ? k : n, transB};
    gemm(A, B, heap + cOff + (int64_t)m * n * b, m, n, k);
  }
  return nullptr;
}
