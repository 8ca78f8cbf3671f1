#include "trainer/torch_runtime.hpp"

#include <torch/cuda.h>
#include <torch/version.h>

namespace dmpc {

TorchRuntime torch_runtime() {
  TorchRuntime r;
  r.version = std::to_string(TORCH_VERSION_MAJOR) + "." + std::to_string(TORCH_VERSION_MINOR) +
              "." + std::to_string(TORCH_VERSION_PATCH);
  r.cuda_devices = static_cast<int>(torch::cuda::device_count());
  return r;
}

}  // namespace dmpc
