// dmpc info: what this build contains and which devices it sees.
#include <iostream>
#include <thread>

#include "tools/cli_common.hpp"
#include "trainer/distributed.hpp"
#include "trainer/torch_runtime.hpp"
#ifdef DMPC_WITH_CUDA
#include "cuda/cuda_check.hpp"
#endif

namespace dmpc::cli {

void add_info_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("info", "Print the build configuration and devices");
  sub->callback([] {
    const TorchRuntime torch = torch_runtime();
#ifdef DMPC_WITH_CUDA
    const char* cuda = "compiled";
    const int gpus = cuda::device_count();
#else
    const char* cuda = "not compiled";
    const int gpus = 0;
#endif
    std::cout << "dmpc 0.1.0\n"
              << "  CUDA backend:     " << cuda << " (backend = \"auto\" runs on the " << (gpus > 0 ? "GPU" : "CPU")
              << " here)\n"
              << "  LibTorch:         " << torch.version << "\n"
              << "  CUDA devices:     " << torch.cuda_devices << " (as LibTorch sees them), " << gpus
              << " (as the CUDA backend sees them)\n"
              << "  MPI:              " << (built_with_mpi() ? "compiled" : "not compiled")
              << "; NCCL: " << (built_with_nccl() ? "compiled" : "not compiled") << "\n"
              << "  CPU threads:      " << std::thread::hardware_concurrency() << "\n";
  });
}

}  // namespace dmpc::cli
