// dmpc bench actor [--backend cpu|cuda] --env ballbot|point_mass --cost quadratic|terminal|dmpc
//                  --batch B --knots N --iters I --threads T [--knot-dt h] [--steps S] [--rounds R] [--width W --depth D]
//                  [--layout thread_per_problem|knot_parallel] [--block TPB]   (GPU actor only)
//
// Times the batched actor (CPU thread pool, or with --backend cuda the GPU actor): R rounds of S control steps (solve every problem from its shifted
// warm start at the state its last solve predicted), from random states near the balancing
// equilibrium, with a random critic of the
// paper's size (3×12 tanh) for the value-based costs. Prints one JSON object with the median
// round: solves per second and microseconds per knot-iteration (thread time: wall time × threads
// over the knot-iterations run; one knot of one iLQR iteration, all derivatives included).
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <memory>
#include <random>
#include <utility>

#ifdef DMPC_WITH_CUDA
#include "cuda/actor_solve.hpp"
#include "cuda/cuda_check.hpp"
#include "cuda/device_buffer.hpp"
#endif
#include "core/actor_config.hpp"
#include "core/batch_actor.hpp"
#include "core/value_file.hpp"
#include "envs/task/task_config.hpp"
#include "tools/cli_common.hpp"
#include "trainer/train_config.hpp"

namespace dmpc::cli {

namespace {

struct BenchActorOptions {
  std::string backend = "cpu", env = "ballbot", cost = "quadratic", integrator = "euler", config;
  std::string layout = "thread_per_problem";  // GPU actor layout (cuda/actor_solve.hpp)
  int64_t block = 64;                         // GPU threads per block
  std::vector<std::string> overrides;
  int64_t batch = 64, knots = 50, iters = 1, threads = 1, steps = 10, rounds = 5;
  int64_t width = 12, depth = 3;
  double knot_dt = 0.02;
};

std::string cpu_model() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) return line.substr(line.find(':') + 2);
  return "unknown cpu";
}

// The actor settings a benchmark asks for: the configuration's weights, the options' horizon,
// iterations (every one run: tolerance 0) and integrator.
ActorSettings bench_actor_settings(const RunConfig& run, const BenchActorOptions& o) {
  ActorSettings a = run.actor;
  a.mode = actor_cost_mode_from_name(o.cost);
  a.knot_dt = o.knot_dt;
  a.horizon = o.knot_dt * static_cast<double>(o.knots);
  a.solver.max_iterations = static_cast<int32_t>(o.iters);
  a.solver.tolerance = 0.0;  // run every iteration asked for
  a.solver.integrator = o.integrator == "rk4" ? KnotIntegrator::kRk4 : KnotIntegrator::kEuler;
  return a;
}

// Random problems near the balancing equilibrium (seeded: the same on every backend).
template <typename System>
void bench_actor_problems(const System& sys, size_t batch, std::vector<typename System::State>& x,
                          std::vector<typename System::Scalar>& goals) {
  using T = typename System::Scalar;
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> pos(-1.2, 1.2), tilt(-0.05, 0.05), goal(-0.4, 0.4);
  x.resize(batch);
  goals.resize(2 * batch);
  for (size_t i = 0; i < batch; ++i) {
    const double px = pos(rng), py = pos(rng);
    x[i] = sys.rest_state(T(px), T(py));
    if constexpr (System::kStateDim == 10) {
      x[i][3] += T(tilt(rng));
      x[i][4] += T(tilt(rng));
    }
    goals[2 * i] = T(goal(rng));
    goals[2 * i + 1] = T(0.8 + goal(rng));
  }
}

template <typename System>
int bench_actor_cuda(const BenchActorOptions& o);

template <typename System>
int bench_actor(const System& sys, const BenchActorOptions& o) {
  if (o.backend == "cuda") return bench_actor_cuda<System>(o);
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  const RunConfig run = load_run_config(o.config, o.overrides, System::kName, paper_settings_toml());
  const EnvConfig& env = run.env;
  const ActorSettings a = bench_actor_settings(run, o);
  const auto params = make_cost_params(sys, a, env.input_weight, env.task.cost, env.task.binary_goal_radius);
  const ValueNetwork net = random_value_network(
      {NX + 3, static_cast<int32_t>(o.width), static_cast<int32_t>(o.depth)}, 1, 1.0);

  ThreadPool pool(static_cast<size_t>(o.threads));
  const size_t batch = static_cast<size_t>(o.batch);
  BatchActor<System> actor(sys, a, params, env.task.input_limit, batch, pool);
  actor.set_value({net.shape, net.params.data()});

  std::vector<typename System::State> x;
  std::vector<double> tau(batch, a.horizon + 1.0), goals, u(batch * NU);
  bench_actor_problems(sys, batch, x, goals);

  actor.solve(x.data(), tau.data(), goals.data(), u.data());  // warm-up
  std::vector<double> round_seconds;
  int64_t knot_iterations = 0, solves = 0, forward_passes = 0;
  for (int64_t r = 0; r < o.rounds; ++r) {
    int64_t round_knot_iterations = 0;
    forward_passes = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < o.steps; ++s) {
      // Closed loop with the model as the plant: each problem starts from the state its previous
      // solve predicted one knot on, from the shifted warm start (the real-time iteration regime).
      for (size_t i = 0; i < batch; ++i) x[i] = std::as_const(actor).knot(i, 1).x;
      actor.shift(1);
      actor.solve(x.data(), tau.data(), goals.data(), u.data());
      for (size_t i = 0; i < batch; ++i) {
        round_knot_iterations += static_cast<int64_t>(actor.result(i).iterations) * o.knots;
        forward_passes += actor.result(i).forward_passes;
      }
    }
    round_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    knot_iterations = round_knot_iterations;
    solves = o.steps * o.batch;
  }
  std::vector<double> sorted = round_seconds;
  std::sort(sorted.begin(), sorted.end());
  const double median = sorted[sorted.size() / 2];
  std::printf(
      "{\"bench\": \"actor\", \"backend\": \"cpu\", \"device\": \"%s\", \"env\": \"%s\", "
      "\"cost\": \"%s\", \"integrator\": \"%s\", \"batch\": %lld, \"knots\": %lld, "
      "\"knot_dt\": %g, \"iters\": %lld, \"threads\": %zu, \"critic\": [%lld, %lld], "
      "\"rounds\": %lld, \"steps_per_round\": %lld, \"median_round_seconds\": %.6g, "
      "\"solves_per_second\": %.6g, \"knot_iterations_per_second\": %.6g, "
      "\"us_per_knot_iteration\": %.6g, \"mean_iterations\": %.4g, "
      "\"line_search_trials_per_iteration\": %.4g}\n",
      cpu_model().c_str(), System::kName, o.cost.c_str(), o.integrator.c_str(),
      static_cast<long long>(o.batch), static_cast<long long>(o.knots), o.knot_dt,
      static_cast<long long>(o.iters), pool.size(), static_cast<long long>(o.depth),
      static_cast<long long>(o.width), static_cast<long long>(o.rounds),
      static_cast<long long>(o.steps), median, static_cast<double>(solves) / median,
      static_cast<double>(knot_iterations) / median,
      1e6 * median * static_cast<double>(pool.size()) / static_cast<double>(knot_iterations),
      static_cast<double>(knot_iterations) / static_cast<double>(solves * o.knots),
      static_cast<double>(forward_passes) * static_cast<double>(o.knots) / static_cast<double>(knot_iterations));
  return 0;
}

#ifdef DMPC_WITH_CUDA
std::string cuda_device_name() {
  if (cuda::device_count() == 0) return "";
  cudaDeviceProp prop{};
  DMPC_CUDA_CHECK(cudaGetDeviceProperties(&prop, 0));
  return prop.name;
}


// The same benchmark on the GPU actor (cuda/actor_solve.hpp, one thread per problem, float32):
// every control step is a solve launch and a shift launch (the predicted state becomes the next
// start), then the iteration counts come back to the host (that copy is timed: a training loop
// needs the inputs back every step too).
template <typename System>
int bench_actor_cuda(const BenchActorOptions& o) {
  using S = typename System::template Rebind<float>;
  constexpr int NX = S::kStateDim, NU = S::kInputDim;
  const std::string device = cuda_device_name();
  if (device.empty()) throw std::runtime_error("--backend cuda: no CUDA device");
  const S sys;
  const RunConfig run = load_run_config(o.config, o.overrides, System::kName, paper_settings_toml());
  const ActorSettings a = bench_actor_settings(run, o);
  const auto params = make_cost_params(sys, a, run.env.input_weight, run.env.task.cost, run.env.task.binary_goal_radius);
  const ValueNetwork net = random_value_network(
      {NX + 3, static_cast<int32_t>(o.width), static_cast<int32_t>(o.depth)}, 1, 1.0);
  const std::vector<float> weights(net.params.begin(), net.params.end());
  const size_t batch = static_cast<size_t>(o.batch);
  const int capacity = a.knots();
  std::vector<typename S::State> x;
  std::vector<float> goals;
  bench_actor_problems(sys, batch, x, goals);
  std::vector<float> tau(batch, static_cast<float>(a.horizon + 1.0));

  std::vector<IlqrKnot<S>> knots(batch * static_cast<size_t>(capacity + 1));
  for (auto& kn : knots) {
    kn.u = S::Input::zero();
    kn.K = Mat<float, NU, NX>::zero();
  }
  cuda::DeviceBuffer<ActorCostParams<float, NX, NU>> d_params(std::vector<ActorCostParams<float, NX, NU>>{params});
  cuda::DeviceBuffer<float> d_weights(weights), d_tau(tau), d_goals(goals), d_u0(batch * NU);
  cuda::DeviceBuffer<float> d_mu(std::vector<float>(batch, static_cast<float>(a.solver.mu_init)));
  cuda::DeviceBuffer<IlqrKnot<S>> d_knots(knots);
  cuda::DeviceBuffer<typename S::State> d_x(x);
  cuda::DeviceBuffer<int32_t> d_iterations(batch);
  cuda::ActorSolveArgs<S> args;
  args.system = sys;
  args.params = d_params.ptr;
  args.value = {net.shape, d_weights.ptr};
  args.settings = make_ilqr_settings<float>(a, run.env.task.input_limit);
  args.knot_dt = static_cast<float>(a.knot_dt);
  args.capacity = capacity;
  args.knots = d_knots.ptr;
  args.mu = d_mu.ptr;
  args.x = d_x.ptr;
  args.tau = d_tau.ptr;
  args.goal = d_goals.ptr;
  args.u0 = d_u0.ptr;
  args.iterations = d_iterations.ptr;
  args.batch = static_cast<int>(batch);
  args.layout = cuda::parse_actor_layout(o.layout);
  args.threads_per_block = static_cast<int>(o.block);
  std::unique_ptr<cuda::ActorSolveWorkspace<S>> workspace;
  if (args.layout == cuda::ActorLayout::kKnotParallel) {
    workspace = std::make_unique<cuda::ActorSolveWorkspace<S>>(args.batch);
    workspace->attach(args);
  }
  std::vector<int32_t> iterations(batch);

  cuda::launch_actor_solve(args, nullptr);  // warm-up
  DMPC_CUDA_CHECK(cudaDeviceSynchronize());
  std::vector<double> round_seconds;
  int64_t knot_iterations = 0;
  for (int64_t r = 0; r < o.rounds; ++r) {
    int64_t round_knot_iterations = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (int64_t s = 0; s < o.steps; ++s) {
      cuda::launch_actor_shift(args, d_x.ptr, nullptr);
      cuda::launch_actor_solve(args, nullptr);
      d_iterations.download(iterations);
      for (int32_t it : iterations) round_knot_iterations += static_cast<int64_t>(it) * o.knots;
    }
    round_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    knot_iterations = round_knot_iterations;
  }
  std::sort(round_seconds.begin(), round_seconds.end());
  const double median = round_seconds[round_seconds.size() / 2];
  const int64_t solves = o.steps * o.batch;
  std::printf(
      "{\"bench\": \"actor\", \"backend\": \"cuda\", \"device\": \"%s\", \"env\": \"%s\", "
      "\"cost\": \"%s\", \"integrator\": \"%s\", \"batch\": %lld, \"knots\": %lld, "
      "\"knot_dt\": %g, \"iters\": %lld, \"layout\": \"%s\", \"threads_per_block\": %lld, \"critic\": [%lld, %lld], "
      "\"rounds\": %lld, \"steps_per_round\": %lld, \"median_round_seconds\": %.6g, "
      "\"solves_per_second\": %.6g, \"knot_iterations_per_second\": %.6g, \"mean_iterations\": %.4g}\n",
      device.c_str(), System::kName, o.cost.c_str(), o.integrator.c_str(),
      static_cast<long long>(o.batch), static_cast<long long>(o.knots), o.knot_dt,
      static_cast<long long>(o.iters), cuda::actor_layout_name(args.layout), static_cast<long long>(o.block),
      static_cast<long long>(o.depth), static_cast<long long>(o.width),
      static_cast<long long>(o.rounds), static_cast<long long>(o.steps), median,
      static_cast<double>(solves) / median, static_cast<double>(knot_iterations) / median,
      static_cast<double>(knot_iterations) / static_cast<double>(solves * o.knots));
  return 0;
}
#else
template <typename System>
int bench_actor_cuda(const BenchActorOptions&) {
  throw std::runtime_error("--backend cuda: this build has no CUDA backend (DMPC_WITH_CUDA=OFF)");
}
#endif

}  // namespace

void add_bench_env_command(CLI::App& bench);
void add_bench_train_command(CLI::App& bench);

void add_bench_command(CLI::App& app) {
  CLI::App* bench = app.add_subcommand("bench", "Throughput benchmarks (print JSON)");
  bench->require_subcommand(1);
  auto o = std::make_shared<BenchActorOptions>();
  CLI::App* actor = bench->add_subcommand("actor", "Batched MPC actor");
  actor->add_option("--backend", o->backend, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  actor->add_option("--env", o->env, "ballbot or point_mass")->capture_default_str();
  actor->add_option("--cost", o->cost, "quadratic, terminal or dmpc")
      ->check(CLI::IsMember({"quadratic", "terminal", "dmpc"}))
      ->capture_default_str();
  actor->add_option("--batch", o->batch, "problems")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  actor->add_option("--knots", o->knots, "knots N")->check(CLI::Range(int64_t{1}, int64_t{10000}))->capture_default_str();
  actor->add_option("--knot-dt", o->knot_dt, "knot spacing h [s]")->check(CLI::PositiveNumber)->capture_default_str();
  actor->add_option("--iters", o->iters, "iLQR iterations per solve")->check(CLI::Range(int64_t{1}, int64_t{kIlqrMaxRecordedIterations}))->capture_default_str();
  actor->add_option("--threads", o->threads, "CPU threads (0 = all)")->check(CLI::Range(int64_t{0}, int64_t{4096}))->capture_default_str();
  actor->add_option("--steps", o->steps, "control steps per round")->check(CLI::Range(int64_t{1}, int64_t{1000000}))->capture_default_str();
  actor->add_option("--rounds", o->rounds, "timed rounds (the median is reported)")->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
  actor->add_option("--width", o->width, "critic width")->check(CLI::Range(int64_t{1}, int64_t{kMaxMlpWidth}))->capture_default_str();
  actor->add_option("--depth", o->depth, "critic hidden layers")->check(CLI::Range(int64_t{1}, int64_t{kMaxMlpDepth}))->capture_default_str();
  actor->add_option("--config", o->config, "configuration for the cost weights (default: the paper's settings, configs/paper.toml)");
  actor->add_option("--set", o->overrides, "override a configuration key (repeatable)");
  actor->add_option("--layout", o->layout, "GPU actor layout (--backend cuda): thread_per_problem or knot_parallel")
      ->check(CLI::IsMember({"thread_per_problem", "knot_parallel"}))->capture_default_str();
  actor->add_option("--block", o->block, "GPU threads per block (--backend cuda), a multiple of 32")
      ->check(CLI::Range(int64_t{32}, int64_t{1024}))->capture_default_str();
  actor->add_option("--integrator", o->integrator, "euler or rk4")->check(CLI::IsMember({"euler", "rk4"}))->capture_default_str();
  actor->callback([o] { with_system(o->env, [&](auto sys) { return bench_actor(sys, *o); }); });
  add_bench_env_command(*bench);
  add_bench_train_command(*bench);
}

}  // namespace dmpc::cli

// ---- dmpc bench env ----------------------------------------------------------------------------
// dmpc bench env --backend cpu|cuda --env ballbot|point_mass --batch B --steps S [--threads T]
//                [--rounds R]
// Steps B environments S control periods (zero input, process noise on, each with the task's
// substeps) from sampled starts, R times, and prints JSON with the median round: SDE substeps and
// environment steps per second. Only steps actually integrated count (an episode that ended, a
// fallen Ballbot, is not stepped again; the fall angle is raised to 1.5 rad to keep most running).
#ifdef DMPC_WITH_CUDA
#include "cuda/cuda_check.hpp"
#include "cuda/env_step.hpp"
#endif
#include "envs/batch_env.hpp"

namespace dmpc::cli {

namespace {

struct BenchEnvOptions {
  std::string backend = "cpu", env = "ballbot";
  int64_t batch = 1024, steps = 100, threads = 0, rounds = 5;
};


template <typename System>
int bench_env(const BenchEnvOptions& o) {
  constexpr int NU = System::kInputDim;
  const RunConfig run = load_run_config("", {"task.fall_angle=1.5"}, System::kName, paper_settings_toml());
  const size_t batch = static_cast<size_t>(o.batch);
  std::vector<double> seconds;
  int64_t integrated = 0;  // control steps integrated in the last round
  std::string device;
  if (o.backend == "cpu") {
    using S = typename System::template Rebind<double>;
    ThreadPool pool(static_cast<size_t>(o.threads));
    device = cpu_model() + " x" + std::to_string(pool.size());
    BatchEnv<S> env(S{}, run.env.task, make_noise_model<NU>(run.env.process_noise, run.env.input_weight),
                    run.env.seed, batch, pool);
    std::vector<double> u(batch * NU, 0.0);
    for (int64_t r = 0; r < o.rounds; ++r) {
      env.reset(static_cast<uint32_t>(r));
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < o.steps; ++s) env.step(u.data());
      seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      integrated = 0;
      for (size_t i = 0; i < batch; ++i) integrated += env.episode(i).step;
    }
  } else {
#ifdef DMPC_WITH_CUDA
    using S = typename System::template Rebind<float>;
    device = cuda_device_name();
    if (device.empty()) throw std::runtime_error("--backend cuda: no CUDA device");
    const TaskParams<float> task = run.env.task.cast<float>();
    cuda::DeviceBuffer<Episode<S>> episodes(batch);
    cuda::DeviceBuffer<float> inputs(std::vector<float>(batch * NU, 0.0f)), stage(batch), terminal(batch);
    cuda::DeviceBuffer<int32_t> reason(batch);
    cuda::EnvStepArgs<S> args{S{}, task, make_noise_model<NU>(run.env.process_noise, run.env.input_weight).template cast<float>(),
                              run.env.seed, episodes.ptr, inputs.ptr, stage.ptr, terminal.ptr, reason.ptr, static_cast<int>(batch)};
    std::vector<Episode<S>> host(batch);
    for (int64_t r = 0; r < o.rounds + 1; ++r) {  // round 0 warms the device up
      cuda::launch_env_reset(S{}, task, run.env.seed, episodes.ptr, static_cast<int>(batch), 0,
                             static_cast<uint32_t>(r), nullptr);
      DMPC_CUDA_CHECK(cudaDeviceSynchronize());
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t s = 0; s < o.steps; ++s) cuda::launch_env_step(args, nullptr);
      DMPC_CUDA_CHECK(cudaDeviceSynchronize());
      if (r > 0) seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
      episodes.download(host);
      integrated = 0;
      for (const Episode<S>& e : host) integrated += e.step;
    }
#else
    throw std::runtime_error("--backend cuda: this build has no CUDA backend (DMPC_WITH_CUDA=OFF)");
#endif
  }
  std::sort(seconds.begin(), seconds.end());
  const double median = seconds[seconds.size() / 2];
  const double steps_per_second = static_cast<double>(integrated) / median;
  std::printf("{\"bench\": \"env\", \"backend\": \"%s\", \"device\": \"%s\", \"env\": \"%s\", "
              "\"batch\": %lld, \"steps\": %lld, \"substeps_per_step\": %d, \"rounds\": %lld, "
              "\"median_round_seconds\": %.6g, \"env_steps_per_second\": %.6g, "
              "\"substeps_per_second\": %.6g, \"integrated_fraction\": %.4g}\n",
              o.backend.c_str(), device.c_str(), System::kName, static_cast<long long>(o.batch),
              static_cast<long long>(o.steps), run.env.task.substeps, static_cast<long long>(o.rounds),
              median, steps_per_second, steps_per_second * run.env.task.substeps,
              static_cast<double>(integrated) / static_cast<double>(o.batch * o.steps));
  return 0;
}

}  // namespace

void add_bench_env_command(CLI::App& bench) {
  auto o = std::make_shared<BenchEnvOptions>();
  CLI::App* env = bench.add_subcommand("env", "Batched SDE environment steps");
  env->add_option("--backend", o->backend, "cpu or cuda")->check(CLI::IsMember({"cpu", "cuda"}))->capture_default_str();
  env->add_option("--env", o->env, "ballbot or point_mass")->capture_default_str();
  env->add_option("--batch", o->batch, "environments")->check(CLI::Range(int64_t{1}, int64_t{1} << 26))->capture_default_str();
  env->add_option("--steps", o->steps, "control steps per round (at most the episode's)")->check(CLI::Range(int64_t{1}, int64_t{150}))->capture_default_str();
  env->add_option("--threads", o->threads, "CPU threads (0 = all)")->check(CLI::Range(int64_t{0}, int64_t{4096}))->capture_default_str();
  env->add_option("--rounds", o->rounds, "timed rounds (the median is reported)")->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
  env->callback([o] {
    if (o->env == "ballbot") return bench_env<Ballbot<double>>(*o);
    if (o->env == "point_mass") return bench_env<PointMass<double>>(*o);
    throw UsageError("--env: unknown system \"" + o->env + "\" (expected ballbot or point_mass)");
  });
}

}  // namespace dmpc::cli

// ---- dmpc bench train --------------------------------------------------------------------------
// [mpirun -np P] dmpc bench train --backend cpu|cuda|auto --env ballbot|point_mass --batch B --knots N
//                                 --iters I [--threads T] [--rounds R] [--minibatches K] [--baseline]
// Runs R iterations of the training loop (after one untimed): B environments per process with the
// MPC actor (N knots, I iLQR iterations per control step), then K critic minibatches whose
// gradients are averaged over the processes. Rank 0 prints one JSON object: this rank's figures,
// the job's aggregate (every process's environment steps over the job's wall time), and with
// --baseline the same work run first by rank 0 alone (the others idle), from which
// scaling_efficiency = aggregate / (P × baseline).
#include "trainer/dmpc_trainer.hpp"

namespace dmpc::cli {

namespace {

std::string json_or_null(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  return buf;
}

int bench_train_command(const BenchTrainRequest& r) {
  const BenchTrainResult res = bench_train(r);
  if (res.rank != 0) return 0;
  std::string device = cpu_model() + " x" + std::to_string(res.threads);
#ifdef DMPC_WITH_CUDA
  if (res.backend == "cuda") device = cuda_device_name();
#endif
  const double P = res.world_size;
  const BenchTrainFigures &own = res.own, &agg = res.aggregate;
  const double agg_sps = agg.env_steps / agg.seconds;
  const double base_sps = res.has_baseline ? res.baseline.env_steps / res.baseline.seconds : NAN;
  std::printf(
      "{\"bench\": \"train\", \"backend\": \"%s\", \"device\": \"%s\", \"critic_device\": \"%s\", \"critic_engine\": \"%s\", \"actor_layout\": \"%s\", "
      "\"env\": \"%s\", \"world_size\": %d, \"batch\": %lld, \"total_batch\": %lld, \"knots\": %lld, "
      "\"iters\": %lld, \"threads_per_rank\": %d, \"rounds\": %lld, \"minibatches\": %lld, "
      "\"seconds\": %.6g, "
      "\"rank0\": {\"env_steps_per_second\": %s, \"knot_iterations_per_second\": %s, "
      "\"critic_updates_per_second\": %s}, "
      "\"aggregate\": {\"env_steps_per_second\": %s, \"knot_iterations_per_second\": %s}, "
      "\"baseline_env_steps_per_second\": %s, \"scaling_efficiency\": %s}\n",
      res.backend.c_str(), device.c_str(), res.critic_device.c_str(), res.critic_engine.c_str(), res.actor_layout.c_str(), r.env.c_str(), res.world_size,
      static_cast<long long>(r.batch), static_cast<long long>(r.batch) * res.world_size,
      static_cast<long long>(r.knots), static_cast<long long>(r.iters), res.threads,
      static_cast<long long>(r.rounds), static_cast<long long>(r.minibatches), agg.seconds,
      json_or_null(own.env_steps / own.seconds).c_str(),
      json_or_null(own.knot_iterations / own.seconds).c_str(),
      json_or_null(own.critic_updates / own.update_seconds).c_str(), json_or_null(agg_sps).c_str(),
      json_or_null(agg.knot_iterations / agg.seconds).c_str(), json_or_null(base_sps).c_str(),
      json_or_null(agg_sps / (P * base_sps)).c_str());
  return 0;
}

}  // namespace

void add_bench_train_command(CLI::App& bench) {
  auto r = std::make_shared<BenchTrainRequest>();
  CLI::App* t = bench.add_subcommand("train", "Training-loop throughput (collect + critic updates); run under mpirun for several processes");
  t->add_option("--backend", r->backend, "cpu, cuda (GPU environments and actors) or auto")->check(CLI::IsMember({"cpu", "cuda", "auto"}))->capture_default_str();
  t->add_option("--env", r->env, "ballbot or point_mass")->check(CLI::IsMember({"ballbot", "point_mass"}))->capture_default_str();
  t->add_option("--batch", r->batch, "environments per process")->check(CLI::Range(int64_t{1}, int64_t{1} << 20))->capture_default_str();
  t->add_option("--knots", r->knots, "actor knots N")->check(CLI::Range(int64_t{1}, int64_t{10000}))->capture_default_str();
  t->add_option("--iters", r->iters, "iLQR iterations per control step")->check(CLI::Range(int64_t{1}, int64_t{kIlqrMaxRecordedIterations}))->capture_default_str();
  t->add_option("--threads", r->threads, "CPU threads per process (0 = all cores)")->check(CLI::Range(int64_t{0}, int64_t{4096}))->capture_default_str();
  t->add_option("--rounds", r->rounds, "timed training iterations")->check(CLI::Range(int64_t{1}, int64_t{1000}))->capture_default_str();
  t->add_option("--minibatches", r->minibatches, "critic minibatches per iteration")->check(CLI::Range(int64_t{0}, int64_t{1} << 20))->capture_default_str();
  t->add_flag("--baseline", r->baseline, "rank 0 first runs the same work alone: gives scaling_efficiency");
  t->add_option("--config", r->config, "configuration (default: the paper's settings, configs/paper.toml)");
  t->add_option("--set", r->overrides, "override a configuration key (repeatable)");
  t->callback([r] { return bench_train_command(*r); });
}

}  // namespace dmpc::cli
