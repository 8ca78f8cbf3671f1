// The critic's value, gradient and (τ, x) Hessian on the GPU against the same float code on the
// CPU, at random points of the Ballbot's input space.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "core/value_file.hpp"
#include "cuda/value_derivatives.hpp"
#include "cuda/device_buffer.hpp"

namespace dmpc {
namespace {

TEST(GpuValue, BallbotDerivativesMatchCpuToFloatRounding) {
  if (cuda::device_count() == 0) GTEST_SKIP() << "no CUDA device";
  constexpr int ND = 11;  // τ and the Ballbot's 10 states
  const ValueNetwork net = random_value_network({13, 12, 3}, 11, 3.0);
  const std::vector<float> params(net.params.begin(), net.params.end());
  const int points = 4096, n = net.shape.inputs;
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> unit(-1.0f, 1.0f);
  std::vector<float> inputs(static_cast<size_t>(points) * n);
  for (int p = 0; p < points; ++p) {
    float* z = &inputs[static_cast<size_t>(p) * n];
    z[0] = 1.5f + 1.5f * unit(rng);                                // τ
    for (int j = 1; j < n - 2; ++j) z[j] = (j <= 2 ? 1.5f : 0.4f) * unit(rng);  // state
    z[n - 2] = 0.4f * unit(rng);                                   // goal
    z[n - 1] = 0.8f + 0.2f * unit(rng);
  }

  cuda::DeviceBuffer<float> d_params(params), d_inputs(inputs);
  cuda::DeviceBuffer<ValueDerivatives<float, ND>> d_out(points);
  cuda::launch_value_derivatives<ND>(net.shape, d_params.ptr, d_inputs.ptr, points, d_out.ptr, nullptr);
  std::vector<ValueDerivatives<float, ND>> gpu;
  d_out.download(gpu);

  // Both sides run the same float arithmetic; they differ by the device's exp and by fused
  // multiply-adds, a few ulp per operation. Each derivative is a sum of ~10²–10³ products, so
  // the bound is 2e-5 of the largest magnitude in its group (value, gradient, Hessian).
  for (int p = 0; p < points; ++p) {
    ValueDerivatives<float, ND> cpu{};
    value_mlp_derivatives<float, ND>(net.shape, params.data(), &inputs[static_cast<size_t>(p) * n], cpu);
    ASSERT_TRUE(std::isfinite(gpu[p].value)) << "point " << p;
    EXPECT_NEAR(gpu[p].value, cpu.value, 2e-5f * (1.0f + std::fabs(cpu.value))) << "point " << p;
    float gmax = 0.0f, hmax = 0.0f;
    for (int i = 0; i < n; ++i) gmax = std::max(gmax, std::fabs(cpu.grad[i]));
    for (int i = 0; i < ND; ++i)
      for (int j = 0; j < ND; ++j) hmax = std::max(hmax, std::fabs(cpu.hess[i][j]));
    for (int i = 0; i < n; ++i)
      ASSERT_NEAR(gpu[p].grad[i], cpu.grad[i], 2e-5f * (1.0f + gmax)) << "point " << p << " ∂V/∂z" << i;
    for (int i = 0; i < ND; ++i)
      for (int j = 0; j < ND; ++j)
        ASSERT_NEAR(gpu[p].hess[i][j], cpu.hess[i][j], 2e-5f * (1.0f + hmax))
            << "point " << p << " ∂²V/∂z" << i << "∂z" << j;
  }
}

}  // namespace
}  // namespace dmpc
