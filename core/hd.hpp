// Host/device portability for the per-environment math.
//
// Everything a CUDA kernel calls is written once, as a DMPC_HD function: __host__ __device__ under
// nvcc, a plain inline function otherwise. Such functions work on fixed-size types, never allocate,
// never throw and make no virtual calls, so the CPU backend and the kernels run the same arithmetic.
#pragma once

#include <cmath>

#if defined(__CUDACC__)
#define DMPC_HD __host__ __device__ __forceinline__
#else
#define DMPC_HD inline
#endif

namespace dmpc {

// Overloads that pick the float or double routine on host and device alike, so templated math
// written with dmpc::sin(x) never promotes float work to double.
DMPC_HD float sin(float x) { return ::sinf(x); }
DMPC_HD double sin(double x) { return ::sin(x); }
DMPC_HD float cos(float x) { return ::cosf(x); }
DMPC_HD double cos(double x) { return ::cos(x); }
DMPC_HD float sqrt(float x) { return ::sqrtf(x); }
DMPC_HD double sqrt(double x) { return ::sqrt(x); }
DMPC_HD float log(float x) { return ::logf(x); }
DMPC_HD double log(double x) { return ::log(x); }
DMPC_HD float exp(float x) { return ::expf(x); }
DMPC_HD double exp(double x) { return ::exp(x); }
DMPC_HD float atan2(float y, float x) { return ::atan2f(y, x); }
DMPC_HD double atan2(double y, double x) { return ::atan2(y, x); }
DMPC_HD float floor(float x) { return ::floorf(x); }
DMPC_HD double floor(double x) { return ::floor(x); }
DMPC_HD float fabs(float x) { return ::fabsf(x); }
DMPC_HD double fabs(double x) { return ::fabs(x); }

template <typename T>
DMPC_HD T clamp(T v, T lo, T hi) {
  return v < lo ? lo : (v > hi ? hi : v);
}

template <typename T>
DMPC_HD bool is_finite(T v) {
  // v - v is 0 for finite v and NaN for inf or NaN; works without <cmath> on the device.
  return (v - v) == (v - v);
}

}  // namespace dmpc
