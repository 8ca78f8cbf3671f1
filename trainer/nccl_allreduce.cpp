#include "trainer/nccl_allreduce.hpp"

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <stdexcept>
#include <string>

namespace dmpc {

namespace {

void check_nccl(ncclResult_t r, const char* what) {
  if (r != ncclSuccess)
    throw std::runtime_error(std::string("NCCL: ") + what + " failed: " + ncclGetErrorString(r));
}

void check_cuda(cudaError_t r, const char* what) {
  if (r != cudaSuccess)
    throw std::runtime_error(std::string("CUDA: ") + what + " failed: " + cudaGetErrorString(r));
}

}  // namespace

NcclAllReduce::NcclAllReduce(Comm& comm, int device) {
  check_cuda(cudaSetDevice(device), "cudaSetDevice");
  ncclUniqueId id{};
  if (comm.rank() == 0) check_nccl(ncclGetUniqueId(&id), "ncclGetUniqueId");
  comm.broadcast(&id, sizeof id);
  ncclComm_t nccl = nullptr;
  check_nccl(ncclCommInitRank(&nccl, comm.size(), id, comm.rank()), "ncclCommInitRank");
  comm_ = nccl;
  cudaStream_t stream = nullptr;
  check_cuda(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  stream_ = stream;
}

NcclAllReduce::~NcclAllReduce() {
  if (comm_) ncclCommDestroy(static_cast<ncclComm_t>(comm_));
  if (stream_) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

void NcclAllReduce::sum(float* data, size_t n) {
  cudaStream_t stream = static_cast<cudaStream_t>(stream_);
  check_nccl(ncclAllReduce(data, data, n, ncclFloat32, ncclSum, static_cast<ncclComm_t>(comm_), stream),
             "ncclAllReduce");
  check_cuda(cudaStreamSynchronize(stream), "cudaStreamSynchronize after ncclAllReduce");
}

}  // namespace dmpc
