// What the linked LibTorch is and which devices it sees (for `dmpc info` and backend selection).
// The only header that exposes this; torch/torch.h stays inside trainer/ sources.
#pragma once

#include <string>

namespace dmpc {

struct TorchRuntime {
  std::string version;     // e.g. "1.13.1"
  int cuda_devices = 0;    // CUDA devices LibTorch can use now (0 without a GPU or CUDA build)
};

TorchRuntime torch_runtime();

}  // namespace dmpc
