#include "trainer/distributed.hpp"

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <stdexcept>
#include <thread>

#ifdef DMPC_WITH_MPI
#include <mpi.h>
#endif

namespace dmpc {

namespace {

const char* env(const char* name) {
  const char* v = std::getenv(name);
  return (v && *v) ? v : nullptr;
}

// Started by an MPI launcher (Open MPI's mpirun, a PMI/PMIx launcher such as srun), or asked to.
bool launched_by_mpi() {
  if (const char* force = env("DMPC_MPI")) return std::string(force) == "1";
  return env("OMPI_COMM_WORLD_SIZE") || env("PMIX_RANK") || env("PMI_RANK") || env("PMI_SIZE");
}

#ifndef DMPC_WITH_MPI
// The number of processes a launcher says the job has (for the error of a build without MPI).
int launcher_world_size() {
  for (const char* name : {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"})
    if (const char* v = env(name)) return std::atoi(v);
  return 1;
}
#endif

#ifdef DMPC_WITH_MPI
MPI_Comm as_mpi(void* handle) { return *static_cast<MPI_Comm*>(handle); }
MPI_Comm g_world_comm = MPI_COMM_NULL;
bool g_initialised_here = false;

void check(int rc, const char* what) {
  if (rc != MPI_SUCCESS) {
    char text[MPI_MAX_ERROR_STRING];
    int len = 0;
    MPI_Error_string(rc, text, &len);
    throw std::runtime_error(std::string(what) + " failed: " + std::string(text, static_cast<size_t>(len)));
  }
}
#endif

}  // namespace

bool built_with_mpi() {
#ifdef DMPC_WITH_MPI
  return true;
#else
  return false;
#endif
}

bool built_with_nccl() {
#ifdef DMPC_WITH_NCCL
  return true;
#else
  return false;
#endif
}

Comm& Comm::self() {
  static Comm c;  // a world of one: every collective is the identity
  return c;
}

Comm& Comm::world() {
  static Comm* world = [] {
    static Comm c;
    if (!launched_by_mpi()) return &c;
#ifdef DMPC_WITH_MPI
    int already = 0;
    MPI_Initialized(&already);
    if (!already) {
      int provided = 0;
      // MPI is called from the main thread only; the thread pools never call it.
      check(MPI_Init_thread(nullptr, nullptr, MPI_THREAD_FUNNELED, &provided), "MPI_Init_thread");
      g_initialised_here = true;
    }
    // Errors come back as codes (and become exceptions) instead of MPI's default abort.
    MPI_Comm_dup(MPI_COMM_WORLD, &g_world_comm);
    MPI_Comm_set_errhandler(g_world_comm, MPI_ERRORS_RETURN);
    c.handle_ = &g_world_comm;
    MPI_Comm_rank(g_world_comm, &c.rank_);
    MPI_Comm_size(g_world_comm, &c.size_);
    if (const char* v = env("OMPI_COMM_WORLD_LOCAL_RANK")) {
      c.local_rank_ = std::atoi(v);
    } else if (const char* s = env("SLURM_LOCALID")) {
      c.local_rank_ = std::atoi(s);
    } else {
      MPI_Comm node;
      MPI_Comm_split_type(g_world_comm, MPI_COMM_TYPE_SHARED, c.rank_, MPI_INFO_NULL, &node);
      MPI_Comm_rank(node, &c.local_rank_);
      MPI_Comm_free(&node);
    }
#else
    if (launcher_world_size() > 1)
      throw std::runtime_error("started as one of " + std::to_string(launcher_world_size()) +
                               " processes, but this dmpc was built without MPI (DMPC_WITH_MPI=OFF): "
                               "rebuild with Open MPI installed, or run a single process");
#endif
    return &c;
  }();
  return *world;
}

void Comm::sum_to_all(double* data, size_t n) {
  if (size_ == 1 || n == 0) return;
#ifdef DMPC_WITH_MPI
  const MPI_Comm comm = as_mpi(handle_);
  const int count = static_cast<int>(n);
  std::vector<double> all(rank_ == 0 ? n * static_cast<size_t>(size_) : 0);
  check(MPI_Gather(data, count, MPI_DOUBLE, all.data(), count, MPI_DOUBLE, 0, comm), "MPI_Gather");
  if (rank_ == 0) {
    for (size_t j = 0; j < n; ++j) {
      double s = all[j];
      for (size_t r = 1; r < static_cast<size_t>(size_); ++r) s += all[r * n + j];
      data[j] = s;
    }
  }
  check(MPI_Bcast(data, count, MPI_DOUBLE, 0, comm), "MPI_Bcast");
#else
  (void)data;
#endif
}

std::vector<uint64_t> Comm::gather(uint64_t value) {
  if (size_ == 1) return {value};
  std::vector<uint64_t> all(rank_ == 0 ? static_cast<size_t>(size_) : 0);
#ifdef DMPC_WITH_MPI
  check(MPI_Gather(&value, 1, MPI_UINT64_T, all.data(), 1, MPI_UINT64_T, 0, as_mpi(handle_)), "MPI_Gather");
#endif
  return all;
}

void Comm::broadcast(void* data, size_t bytes) {
  if (size_ == 1 || bytes == 0) return;
#ifdef DMPC_WITH_MPI
  check(MPI_Bcast(data, static_cast<int>(bytes), MPI_BYTE, 0, as_mpi(handle_)), "MPI_Bcast");
#else
  (void)data;
#endif
}

void Comm::barrier() {
  if (size_ == 1) return;
#ifdef DMPC_WITH_MPI
  check(MPI_Barrier(as_mpi(handle_)), "MPI_Barrier");
#endif
}

void Comm::idle_barrier() {
  if (size_ == 1) return;
#ifdef DMPC_WITH_MPI
  MPI_Request request;
  check(MPI_Ibarrier(as_mpi(handle_), &request), "MPI_Ibarrier");
  int done = 0;
  while (true) {
    check(MPI_Test(&request, &done, MPI_STATUS_IGNORE), "MPI_Test");
    if (done) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
#endif
}

std::string rank_prefix() {
  const Comm& w = Comm::world();
  if (!w.distributed()) return "";
  return "rank " + std::to_string(w.rank()) + " of " + std::to_string(w.size()) + ": ";
}

void abort_job_if_distributed(const std::string& message, int code) {
#ifdef DMPC_WITH_MPI
  int initialised = 0, finalised = 0;
  MPI_Initialized(&initialised);
  MPI_Finalized(&finalised);
  if (!initialised || finalised || g_world_comm == MPI_COMM_NULL) return;
  int size = 1, rank = 0;
  MPI_Comm_size(g_world_comm, &size);
  MPI_Comm_rank(g_world_comm, &rank);
  if (size == 1) return;
  std::fprintf(stderr, "dmpc: error: rank %d of %d: %s (stopping every rank)\n", rank, size, message.c_str());
  std::fflush(stderr);
  std::fflush(stdout);
  MPI_Abort(MPI_COMM_WORLD, code);
#else
  (void)message;
  (void)code;
#endif
}

void finalize_distributed() {
#ifdef DMPC_WITH_MPI
  int finalised = 0;
  MPI_Finalized(&finalised);
  if (g_initialised_here && !finalised) {
    if (g_world_comm != MPI_COMM_NULL) MPI_Comm_free(&g_world_comm);
    MPI_Finalize();
  }
#endif
}

}  // namespace dmpc
