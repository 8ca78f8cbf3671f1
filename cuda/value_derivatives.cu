#include "cuda/cuda_check.hpp"
#include "cuda/value_derivatives.hpp"

namespace dmpc::cuda {

namespace {

constexpr int kThreadsPerBlock = 128;

template <int ND>
__global__ void value_derivatives_kernel(MlpShape shape, const float* params, const float* inputs,
                                         int points, ValueDerivatives<float, ND>* out) {
  const int i = blockIdx.x * blockDim.x + threadIdx.x;
  if (i >= points) return;
  value_mlp_derivatives<float, ND>(shape, params, inputs + static_cast<size_t>(i) * shape.inputs, out[i]);
}

}  // namespace

template <int ND>
void launch_value_derivatives(const MlpShape& shape, const float* params, const float* inputs,
                              int points, ValueDerivatives<float, ND>* out, cudaStream_t stream) {
  if (points <= 0) return;
  const int blocks = (points + kThreadsPerBlock - 1) / kThreadsPerBlock;
  value_derivatives_kernel<ND><<<blocks, kThreadsPerBlock, 0, stream>>>(shape, params, inputs, points, out);
  DMPC_CUDA_CHECK(cudaGetLastError());
}

// τ plus the state: the Ballbot's (10) and the point mass's (4).
template void launch_value_derivatives<11>(const MlpShape&, const float*, const float*, int,
                                           ValueDerivatives<float, 11>*, cudaStream_t);
template void launch_value_derivatives<5>(const MlpShape&, const float*, const float*, int,
                                          ValueDerivatives<float, 5>*, cudaStream_t);

}  // namespace dmpc::cuda
