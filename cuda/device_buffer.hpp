// A device array (tests, benchmarks): allocated on construction, freed on destruction, with
// whole-array copies to and from host vectors (every CUDA error throws, naming the call).
#pragma once

#include <cstddef>
#include <vector>

#include "cuda/cuda_check.hpp"

namespace dmpc::cuda {

template <typename T>
struct DeviceBuffer {
  T* ptr = nullptr;
  size_t size = 0;

  explicit DeviceBuffer(size_t n) : size(n) {
    DMPC_CUDA_CHECK(cudaMalloc(reinterpret_cast<void**>(&ptr), (n > 0 ? n : 1) * sizeof(T)));
  }
  explicit DeviceBuffer(const std::vector<T>& host) : DeviceBuffer(host.size()) { upload(host); }
  ~DeviceBuffer() { cudaFree(ptr); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void upload(const std::vector<T>& host) {
    DMPC_CUDA_CHECK(cudaMemcpy(ptr, host.data(), size * sizeof(T), cudaMemcpyHostToDevice));
  }
  void download(std::vector<T>& host) const {
    host.resize(size);
    DMPC_CUDA_CHECK(cudaMemcpy(host.data(), ptr, size * sizeof(T), cudaMemcpyDeviceToHost));
  }
};

}  // namespace dmpc::cuda
