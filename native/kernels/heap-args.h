// Argument reading shared by the elementwise kernels (gelu.cc, optim.cc, dropout.cc) and attention.cc: every call is
// (heap: Float32Array, ...numbers[, a trailing Float32Array]) with offsets and sizes in floats.
#pragma once
#include <node_api.h>
#include <cstddef>
#include <initializer_list>
#include <string>

struct HeapArgs {
  float* heap = nullptr;
  size_t length = 0;  // floats in the heap
  double v[12] = {};  // the numbers after the heap
  const float* trailing = nullptr;  // the trailing Float32Array, when one is asked for
};

// Reads the heap, `count` numbers and, when trailingLength > 0, a Float32Array of exactly that length;
// throws a TypeError naming `signature` (and returns false) when the call does not match.
inline bool readHeapArgs(napi_env env, napi_callback_info info, const char* signature, size_t count, HeapArgs& out, size_t trailingLength = 0) {
  napi_value argv[14];
  size_t argc = 14;
  const size_t expected = 1 + count + (trailingLength > 0 ? 1 : 0);
  napi_typedarray_type type;
  void* data = nullptr;
  bool ok = count <= 12 && napi_get_cb_info(env, info, &argc, argv, nullptr, nullptr) == napi_ok && argc == expected &&
            napi_get_typedarray_info(env, argv[0], &type, &out.length, &data, nullptr, nullptr) == napi_ok && type == napi_float32_array;
  for (size_t i = 0; ok && i < count; i++) ok = napi_get_value_double(env, argv[1 + i], &out.v[i]) == napi_ok;
  if (ok && trailingLength > 0) {
    size_t length = 0;
    void* trailing = nullptr;
    ok = napi_get_typedarray_info(env, argv[1 + count], &type, &length, &trailing, nullptr, nullptr) == napi_ok && type == napi_float32_array &&
         length == trailingLength;
    out.trailing = static_cast<const float*>(trailing);
  }
  if (!ok) {
    napi_throw_type_error(env, nullptr, signature);
    return false;
  }
  out.heap = static_cast<float*>(data);
  return true;
}

// True when every [offset, offset + size) lies inside the heap; otherwise throws a RangeError
// "<kernel>: operands outside the heap" and returns false.
inline bool inHeap(napi_env env, const HeapArgs& a, const char* kernel, std::initializer_list<double> offsets, double size) {
  for (double off : offsets) {
    if (!(off >= 0 && size >= 0 && off + size <= (double)a.length)) {
      const std::string message = std::string(kernel) + ": operands outside the heap";
      napi_throw_range_error(env, nullptr, message.c_str());
      return false;
    }
  }
  return true;
}
