// The critic's gradient all-reduce between GPUs with NCCL (issue: scale out), for a CUDA build
// with MPI and NCCL (DMPC_WITH_NCCL). The communicator is bootstrapped through MPI: rank 0 makes
// the ncclUniqueId and broadcasts its bytes with Comm::broadcast; every process then joins with
// ncclCommInitRank on its node-local GPU.
//
// sum() adds a float buffer on the device over the processes, in place. NCCL hands every rank the
// same bytes (its all-reduce ends with an all-gather of the reduced chunks); the trainer checks the
// critic's bits on every rank after each iteration anyway. The sum's order is NCCL's (float, ring
// order), so a run with NCCL does not reproduce the bits of one with the MPI path (double, rank
// order on rank 0), but it reproduces itself for the same processes and topology.
//
// No NCCL or CUDA types here: the trainer includes this header.
#pragma once

#include <cstddef>

#include "trainer/distributed.hpp"

namespace dmpc {

class NcclAllReduce {
 public:
  NcclAllReduce(Comm& comm, int device);
  ~NcclAllReduce();
  NcclAllReduce(const NcclAllReduce&) = delete;
  NcclAllReduce& operator=(const NcclAllReduce&) = delete;

  // data[0..n) (device memory of this process's GPU) ← Σ over the processes; returns when done.
  void sum(float* data, size_t n);

 private:
  void* comm_ = nullptr;    // ncclComm_t
  void* stream_ = nullptr;  // cudaStream_t
};

}  // namespace dmpc
