// The addon's entry point: exports the kernels (kernels.h) and whether this CPU can run them.
#include "kernels.h"

namespace {

// The kernels are compiled for AVX2 + FMA (function target attributes), so they are only offered when the
// CPU has both; without them Maestro keeps tfjs' own wasm kernels.
bool cpuSupported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
}

void exportFunction(napi_env env, napi_value exports, const char* name, napi_callback fn) {
  napi_value value;
  napi_create_function(env, name, NAPI_AUTO_LENGTH, fn, nullptr, &value);
  napi_set_named_property(env, exports, name, value);
}

}  // namespace

NAPI_MODULE_INIT() {
  exportFunction(env, exports, "gemm", Gemm);
  exportFunction(env, exports, "gelu", Gelu);
  exportFunction(env, exports, "geluGrad", GeluGrad);
  exportFunction(env, exports, "adamw", AdamW);
  exportFunction(env, exports, "sumSquares", SumSquares);
  exportFunction(env, exports, "columnSums", ColumnSums);
  exportFunction(env, exports, "dropout", Dropout);
  exportFunction(env, exports, "attendOne", AttendOne);
  napi_value supported;
  napi_get_boolean(env, cpuSupported(), &supported);
  napi_set_named_property(env, exports, "supported", supported);
  return exports;
}
