// Launcher for the critic's value and its derivatives at a batch of points on the GPU (float32).
//
// Device buffers, P points, n = shape.inputs:
//   params  float[mlp_parameter_count(shape)]   the flat buffer of core/value_mlp.hpp
//   inputs  float[P][n]                          z = [τ, s, g] per point
//   out     ValueDerivatives<float, ND>[P]       V̂, ∂V̂/∂z (all n inputs), ∂²V̂/∂z² over the first ND
// With ND = 1 + nx the Hessian block holds ∂²V̂/∂x², ∂²V̂/∂τ² and the mixed ∂_τ∂_xV̂ the actor's
// running cost needs. Each thread runs value_mlp_derivatives, the code the CPU actor runs.
// Plain C++ header (no CUDA syntax), callable from g++-compiled code.
#pragma once

#include <cuda_runtime_api.h>

#include "core/value_mlp.hpp"

namespace dmpc::cuda {

template <int ND>
void launch_value_derivatives(const MlpShape& shape, const float* params, const float* inputs,
                              int points, ValueDerivatives<float, ND>* out, cudaStream_t stream);

}  // namespace dmpc::cuda
