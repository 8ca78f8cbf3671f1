// Data-parallel training across processes: the few collectives the trainer needs, over MPI when
// the build has it (DMPC_WITH_MPI) and the process was started by an MPI launcher, otherwise a
// world of one process in which every operation is the identity.
//
// Determinism: sum_to_all() does not use MPI_Allreduce, whose summation order is the library's
// choice and which is not guaranteed to hand every rank the same bits. It gathers every rank's
// numbers on rank 0, adds them there in rank order (0, 1, …, P − 1, in double), and broadcasts
// rank 0's result: every rank receives the same bytes, and the sum does not depend on the MPI
// implementation's algorithm, so a P-rank run is reproducible (exact resume) as well.
//
// GPU tensors are staged through host memory here (the critic is small); a build with NCCL
// all-reduces them GPU to GPU instead (trainer/nccl_allreduce.hpp, critic.allreduce), its
// communicator bootstrapped with an ncclUniqueId that rank 0 broadcasts through broadcast().
//
// No LibTorch and no MPI types here: the command line includes this header.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace dmpc {

class Comm {
 public:
  // The processes of the job (MPI_COMM_WORLD), initialising MPI on first use when the process was
  // started by mpirun/srun (or DMPC_MPI=1 is set); a world of one otherwise.
  static Comm& world();
  // This process alone (for measurements one rank makes on its own).
  static Comm& self();

  int rank() const { return rank_; }
  int size() const { return size_; }
  // The rank among the processes on this node (selects the GPU): OMPI_COMM_WORLD_LOCAL_RANK or
  // SLURM_LOCALID when the launcher sets them, else MPI's shared-memory split.
  int local_rank() const { return local_rank_; }
  bool distributed() const { return size_ > 1; }

  // data[0..n) ← Σ_ranks data[0..n), added in rank order on rank 0 and broadcast (bit-identical
  // on every rank).
  void sum_to_all(double* data, size_t n);
  // Rank 0 receives every rank's value (in rank order); other ranks receive an empty vector.
  std::vector<uint64_t> gather(uint64_t value);
  // Rank 0's bytes to every rank.
  void broadcast(void* data, size_t bytes);
  void barrier();
  // A barrier that sleeps between polls instead of spinning (for processes that wait while
  // another one measures something on its own).
  void idle_barrier();

  Comm(const Comm&) = delete;
  Comm& operator=(const Comm&) = delete;

 private:
  Comm() = default;
  void* handle_ = nullptr;  // MPI_Comm, when MPI is in use
  int rank_ = 0, size_ = 1, local_rank_ = 0;
};

// "rank R of P: " when the job has more than one process, else "".
std::string rank_prefix();

// For the command line's error handler: in a job of more than one process, prints the message as
// this rank's and ends the whole job (MPI_Abort) so that no rank waits forever in a collective.
// Returns (does nothing) in a world of one.
void abort_job_if_distributed(const std::string& message, int code);

// Finalises MPI if it was initialised (called once at the end of main).
void finalize_distributed();

// True when this binary was built with MPI.
bool built_with_mpi();
// True when this binary was built with NCCL (trainer/nccl_allreduce).
bool built_with_nccl();

}  // namespace dmpc
