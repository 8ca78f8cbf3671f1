// Our GPU actor on the peer comparison's problem (tools/bench/peers/gpu_compare.py runs it; built
// only on request, by gpu-check.sh against build-gpu's libdmpc_cuda.a; never by CI).
//
//   gpu_batch_bench --starts FILE --batches 256,1024,4096 --iters I --repeats R
//                   --q q0,..,q9 --qf .. --r r0,r1,r2 --upright w0,..,w4 [--knots 50 --knot-dt 0.02]
//                   [--layout thread_per_problem|knot_parallel] [--block 64] [--check 4]
//
// The problem is the CPU comparison's (crocoddyl_bench.cpp): the Ballbot with explicit-Euler knots,
// the actor's `quadratic` cost with the given weights, the zero input guess, no input limits, no
// regularization unless a Q_uu needs it, exactly I iterations (no early stop), here in float32.
// Every repeat restores the zero guess and μ (untimed) and times one batch solve, launch to
// synchronisation, with CUDA events. Prints one JSON line per batch: the median seconds per batch
// solve, and u₀ of the first --check starts (for the consistency check against the JAX peer).
#include <cuda_runtime_api.h>

#include <algorithm>
#include <cstdio>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/actor_costs.hpp"
#include "cuda/actor_solve.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "tools/bench/peers/peer_problem.hpp"

namespace {

using System = dmpc::Ballbot<float>;
using Params = dmpc::ActorCostParams<float, 10, 3>;
constexpr int NX = 10, NU = 3;

struct Options {
  std::string starts, layout = "thread_per_problem";
  std::vector<int> batches = {256, 1024, 4096};
  int iters = 3, repeats = 20, knots = 50, block = 64, check = 4;
  double knot_dt = 0.02;
  dmpc::peers::PeerWeights weights;
};

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (i + 1 >= argc) throw std::runtime_error(k + " needs a value");
    const std::string v = argv[++i];
    if (k == "--starts") o.starts = v;
    else if (k == "--batches") {
      o.batches.clear();
      for (double b : dmpc::peers::parse_list(v)) o.batches.push_back(static_cast<int>(b));
    } else if (k == "--iters") o.iters = std::stoi(v);
    else if (k == "--repeats") o.repeats = std::stoi(v);
    else if (k == "--knots") o.knots = std::stoi(v);
    else if (k == "--knot-dt") o.knot_dt = std::stod(v);
    else if (k == "--layout") o.layout = v;
    else if (k == "--block") o.block = std::stoi(v);
    else if (k == "--check") o.check = std::stoi(v);
    else if (!o.weights.take(k, v)) throw std::runtime_error("unknown option " + k);
  }
  if (o.starts.empty()) throw std::runtime_error("--starts is required");
  o.weights.check();
  if (o.iters < 1 || o.repeats < 1 || o.batches.empty()) throw std::runtime_error("bad --iters, --repeats or --batches");
  return o;
}

int run(const Options& o) {
  const System sys{};
  const int max_batch = *std::max_element(o.batches.begin(), o.batches.end());
  std::vector<System::State> x;
  std::vector<float> goal;
  for (const dmpc::peers::PeerStart& s : dmpc::peers::read_starts(o.starts, max_batch)) {
    System::State xs;
    for (int i = 0; i < NX; ++i) xs[i] = static_cast<float>(s.x[i]);
    x.push_back(xs);
    goal.push_back(static_cast<float>(s.gx));
    goal.push_back(static_cast<float>(s.gy));
  }
  dmpc::IlqrSettings<float> settings;
  settings.max_iterations = o.iters;
  settings.integrator = dmpc::KnotIntegrator::kEuler;
  settings.input_limit = 1e30f;
  settings.mu_init = 0.0f;  // as the CPU comparison: no regularization unless Q_uu needs it
  settings.mu_min = 0.0f;
  settings.tolerance = 0.0f;  // exactly `iters` iterations, as the peers run them

  const size_t per_problem = static_cast<size_t>(o.knots) + 1;
  std::vector<dmpc::IlqrKnot<System>> zero_guess(static_cast<size_t>(max_batch) * per_problem);
  for (auto& kn : zero_guess) {
    kn.u = System::Input::zero();
    kn.K = dmpc::Mat<float, NU, NX>::zero();
  }
  dmpc::cuda::DeviceBuffer<Params> d_params(std::vector<Params>{dmpc::peers::quadratic_params(sys, o.weights, o.knot_dt)});
  dmpc::cuda::DeviceBuffer<dmpc::IlqrKnot<System>> d_pristine(zero_guess), d_knots(zero_guess.size());
  dmpc::cuda::DeviceBuffer<System::State> d_x(x);
  dmpc::cuda::DeviceBuffer<float> d_goal(goal), d_tau(std::vector<float>(max_batch, static_cast<float>(o.knots * o.knot_dt + 1.0)));
  dmpc::cuda::DeviceBuffer<float> d_mu(std::vector<float>(max_batch, 0.0f)), d_mu0(std::vector<float>(max_batch, 0.0f));
  dmpc::cuda::DeviceBuffer<float> d_u0(static_cast<size_t>(max_batch) * NU);
  dmpc::cuda::DeviceBuffer<int32_t> d_iterations(max_batch);
  dmpc::cuda::ActorSolveWorkspace<System> workspace(max_batch);

  cudaDeviceProp prop{};
  DMPC_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  cudaEvent_t start, stop;
  DMPC_CUDA_CHECK(cudaEventCreate(&start));
  DMPC_CUDA_CHECK(cudaEventCreate(&stop));
  for (int batch : o.batches) {
    dmpc::cuda::ActorSolveArgs<System> a;
    a.system = sys;
    a.params = d_params.ptr;
    a.value = {dmpc::MlpShape{}, nullptr};  // the quadratic cost reads no critic
    a.settings = settings;
    a.knot_dt = static_cast<float>(o.knot_dt);
    a.capacity = o.knots;
    a.knots = d_knots.ptr;
    a.mu = d_mu.ptr;
    a.x = d_x.ptr;
    a.tau = d_tau.ptr;
    a.goal = d_goal.ptr;
    a.u0 = d_u0.ptr;
    a.iterations = d_iterations.ptr;
    a.batch = batch;
    a.layout = dmpc::cuda::parse_actor_layout(o.layout);
    a.threads_per_block = o.block;
    workspace.attach(a);
    std::vector<float> seconds;
    for (int r = 0; r <= o.repeats; ++r) {  // r = 0 is the warm-up
      DMPC_CUDA_CHECK(cudaMemcpy(d_knots.ptr, d_pristine.ptr, sizeof(zero_guess[0]) * per_problem * batch,
                                 cudaMemcpyDeviceToDevice));
      DMPC_CUDA_CHECK(cudaMemcpy(d_mu.ptr, d_mu0.ptr, sizeof(float) * batch, cudaMemcpyDeviceToDevice));
      DMPC_CUDA_CHECK(cudaEventRecord(start));
      dmpc::cuda::launch_actor_solve(a, nullptr);
      DMPC_CUDA_CHECK(cudaEventRecord(stop));
      DMPC_CUDA_CHECK(cudaEventSynchronize(stop));
      float ms = 0.0f;
      DMPC_CUDA_CHECK(cudaEventElapsedTime(&ms, start, stop));
      if (r > 0) seconds.push_back(ms * 1e-3f);
    }
    std::sort(seconds.begin(), seconds.end());
    std::vector<float> u0;
    std::vector<int32_t> iterations;
    d_u0.download(u0);
    d_iterations.download(iterations);
    double mean_iterations = 0.0;
    for (int i = 0; i < batch; ++i) mean_iterations += iterations[i];
    std::printf("{\"peer\": \"ours-cuda\", \"device\": \"%s\", \"layout\": \"%s\", \"threads_per_block\": %d, "
                "\"batch\": %d, \"iters\": %d, \"knots\": %d, \"repeats\": %d, \"seconds\": %.6g, "
                "\"mean_iterations\": %.4g, \"u0\": [",
                prop.name, o.layout.c_str(), o.block, batch, o.iters, o.knots, o.repeats,
                seconds[seconds.size() / 2], mean_iterations / batch);
    for (int i = 0; i < std::min(o.check, batch); ++i)
      std::printf("%s[%.9g, %.9g, %.9g]", i ? ", " : "", u0[NU * i], u0[NU * i + 1], u0[NU * i + 2]);
    std::printf("]}\n");
    std::fflush(stdout);
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  try {
    return run(parse(argc, argv));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "gpu_batch_bench: %s\n", e.what());
    return 1;
  }
}
