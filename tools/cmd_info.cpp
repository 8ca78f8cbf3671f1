// dmpc info: what this build contains and which devices it sees.
#include <iostream>
#include <thread>

#include "tools/cli_common.hpp"
#include "trainer/torch_runtime.hpp"

namespace dmpc::cli {

void add_info_command(CLI::App& app) {
  CLI::App* sub = app.add_subcommand("info", "Print the build configuration and devices");
  sub->callback([] {
    const TorchRuntime torch = torch_runtime();
#ifdef DMPC_WITH_CUDA
    const char* cuda = "compiled";
#else
    const char* cuda = "not compiled";
#endif
    std::cout << "dmpc 0.1.0\n"
              << "  CUDA backend:     " << cuda << "\n"
              << "  LibTorch:         " << torch.version << "\n"
              << "  CUDA devices:     " << torch.cuda_devices << " (as LibTorch sees them)\n"
              << "  CPU threads:      " << std::thread::hardware_concurrency() << "\n";
  });
}

}  // namespace dmpc::cli
