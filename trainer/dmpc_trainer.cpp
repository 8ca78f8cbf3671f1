// The DMPC loop (paper Algorithm 1) on the CPU: batched environments and actors, a replay buffer
// and the critic in LibTorch; run directories with metrics, checkpoints and resume.
#include "trainer/dmpc_trainer.hpp"

#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <map>
#include <sstream>
#include <stdexcept>

#include "core/actor_config.hpp"
#include "core/batch_actor.hpp"
#include "core/philox.hpp"
#include "core/value_file.hpp"
#include "envs/ballbot/ballbot.hpp"
#include "envs/batch_env.hpp"
#include "envs/point_mass/point_mass.hpp"
#include "envs/task/task_config.hpp"
#include "trainer/critic.hpp"
#include "trainer/critic_gradient.hpp"
#include "trainer/distributed.hpp"
#include "trainer/td_targets.hpp"
#include "trainer/train_config.hpp"
#ifdef DMPC_WITH_CUDA
#include "cuda/cuda_check.hpp"
#include "cuda/device_rollout.hpp"
#endif
#ifdef DMPC_WITH_NCCL
#include "trainer/nccl_allreduce.hpp"
#endif

namespace dmpc {

namespace fs = std::filesystem;

namespace {

// ---- files ---------------------------------------------------------------------------------------

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error(path.string() + ": cannot read");
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

// Writes beside the target and renames over it: readers never see a partial file.
void write_atomic(const fs::path& path, const std::string& text) {
  const fs::path tmp = path.string() + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    if (!out) throw std::runtime_error(tmp.string() + ": cannot write");
  }
  fs::rename(tmp, path);
}

// FNV-1a (64-bit) of n bytes, continuing from h.
uint64_t fnv1a(const void* data, size_t n, uint64_t h = 0xcbf29ce484222325ull) {
  const unsigned char* p = static_cast<const unsigned char*>(data);
  for (size_t i = 0; i < n; ++i) {
    h ^= p[i];
    h *= 0x100000001b3ull;
  }
  return h;
}

std::string hex64(uint64_t h) {
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

// FNV-1a (64-bit) of a file's bytes.
uint64_t file_hash(const fs::path& path) {
  const std::string bytes = read_text(path);
  return fnv1a(bytes.data(), bytes.size());
}

// The same as 16 hex digits (the checksums of state.toml).
std::string file_checksum(const fs::path& path) { return hex64(file_hash(path)); }

std::string json_number(double v) {
  if (!std::isfinite(v)) return "null";
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// The checkpoint directory that checkpoints/latest names.
fs::path latest_checkpoint(const fs::path& latest) {
  std::string name = read_text(latest);
  while (!name.empty() && (name.back() == '\n' || name.back() == ' ')) name.pop_back();
  return latest.parent_path() / name;
}

volatile std::sig_atomic_t g_interrupted = 0;
extern "C" void on_interrupt(int) { g_interrupted = 1; }

// ---- configuration ---------------------------------------------------------------------------------

// The device of `critic.device`: auto picks CUDA when LibTorch sees a GPU. With several processes
// on a node, each takes the GPU of its node-local rank (one rank per GPU).
// The native engine computes on the CPU, so with it auto means the CPU (an explicit "cuda" is
// refused by the trainer).
torch::Device critic_device(const CriticSettings& critic, int local_rank) {
  const std::string setting = critic.engine == "native" && critic.device == "auto" ? "cpu" : critic.device;
  const bool cuda = torch::cuda::is_available();
  if (setting == "cuda" && !cuda)
    throw std::runtime_error("critic.device = \"cuda\" but LibTorch sees no CUDA device");
  if (!(setting == "cuda" || (setting == "auto" && cuda))) return torch::Device(torch::kCPU);
  if (local_rank == 0) return torch::Device(torch::kCUDA);
  const int64_t count = static_cast<int64_t>(torch::cuda::device_count());
  return torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(local_rank % count));
}

// The engine that computes the critic's objective and gradient on `device`: critic.engine, with
// "auto" resolved to native on the CPU (5–7 times the updates per second of autograd for critics of
// this size, README Performance) and to libtorch on a GPU (the native engine is CPU code).
std::string resolved_critic_engine(const CriticSettings& critic, const torch::Device& device) {
  if (critic.engine != "auto") return critic.engine;
  return device.is_cpu() ? "native" : "libtorch";
}

// Where the environments and the actor run: "cuda" needs a CUDA build and a device, "auto" takes
// the GPU when both are there. (The critic's place is critic.device's.)
bool use_cuda_backend(const std::string& setting) {
#ifdef DMPC_WITH_CUDA
  const bool present = cuda::device_count() > 0;
#else
  const bool present = false;
#endif
  if (setting == "cuda" && !present)
#ifdef DMPC_WITH_CUDA
    throw std::runtime_error("backend = \"cuda\" but no CUDA device is present (use backend = \"cpu\" or \"auto\")");
#else
    throw std::runtime_error("backend = \"cuda\" but this build has no CUDA backend (DMPC_WITH_CUDA=OFF)");
#endif
  return setting == "cuda" || (setting == "auto" && present);
}

// Whether a run's episodes go to the GPU (use_cuda_backend), refusing what the device rollout
// cannot run: exploring starts with more time left than the episode (a negative start step).
bool episodes_on_gpu(const RunConfig& cfg) {
  if (!use_cuda_backend(cfg.backend)) return false;
  if (cfg.env.task.free_start_fraction > 0 && cfg.env.task.free_start_time_left.hi > cfg.env.task.duration)
    throw std::runtime_error(
        "task.start.free_time_left above task.duration (episodes longer than T) runs on the CPU backend only: "
        "set backend = \"cpu\"");
  return true;
}

ValueNet make_value_net(MlpShape shape, torch::Device device) {
  ValueNet net(shape);
  net->to(device);
  return net;
}

MlpShape critic_shape(const RunConfig& c) {
  const int32_t features = c.critic.wall_features ? c.env.task.wall_count : 0;
  if (features > kMaxMlpFeatures)
    throw std::runtime_error("critic.wall_features: the task has " + std::to_string(features) +
                             " walls; the critic takes at most " + std::to_string(kMaxMlpFeatures));
  const int32_t path = static_cast<int32_t>(c.critic.path_lookahead.size());
  if (path > kMaxPathFeatures)
    throw std::runtime_error("critic.path_lookahead: " + std::to_string(path) + " look-ahead times; the critic takes at most " +
                             std::to_string(kMaxPathFeatures));
  if (path > 0 && features == 0)
    throw std::runtime_error("critic.path_lookahead needs critic.wall_features = true and at least one wall");
  const int32_t body = c.critic.path_body_gain > 0 ? 1 : 0;
  if (body && path == 0) throw std::runtime_error("critic.path_body_gain needs critic.path_lookahead");
  if (body && body_index(c.env.system) < 0)
    throw std::runtime_error("critic.path_body_gain: the " + c.env.system + " has no body to lean (set it to 0)");
  return {state_dim(c.env.system) + 3, c.critic.width, c.critic.depth, features, path, body};
}

// The initial critic's normalisation (the configured one, then offset 0.5, scale 0.5 m per wall
// feature) and its features' segments (x0, y0, x1, y1, collision radius), then the path features'
// parameters (velocity index, margin, look-ahead times [, yaw index, lean gain]).
void critic_init_inputs(const RunConfig& c, std::vector<double>& offset, std::vector<double>& scale,
                        std::vector<double>& walls) {
  const MlpShape shape = critic_shape(c);
  offset = c.critic.input_offset;
  scale = c.critic.input_scale;
  walls.clear();
  for (int j = 0; j < shape.features; ++j) {
    const WallSegment<double>& w = c.env.task.walls[j];
    offset.push_back(0.5);
    scale.push_back(0.5);
    walls.insert(walls.end(), {w.x0, w.y0, w.x1, w.y1, collision_radius(c.env.task, w)});
  }
  // Path features: offset 1.5 and scale 1 m (the start region lies 1.5-2.5 m from the goals).
  if (shape.path_features > 0) {
    walls.push_back(velocity_index(c.env.system));
    walls.push_back(c.critic.path_margin);
    for (double kappa : c.critic.path_lookahead) {
      offset.push_back(1.5);
      scale.push_back(1.0);
      walls.push_back(kappa);
    }
    if (shape.path_body) {
      walls.push_back(body_index(c.env.system));
      walls.push_back(c.critic.path_body_gain);
    }
  }
}

// ---- replay buffer -----------------------------------------------------------------------------------

// A ring of transitions with their (n-step) target pieces, as float32 tensors:
//   z [C, inputs]  partial [C]  bootstrap [C]  discount [C]  z_boot [C, inputs]
// Sampling is uniform over what is stored, with indices drawn from Philox so that it does not
// depend on LibTorch's generators.
struct ReplayBuffer {
  int64_t capacity = 0, size = 0, next = 0;
  torch::Tensor z, partial, bootstrap, discount, z_boot;

  ReplayBuffer(int64_t cap, int64_t inputs, torch::Device device) : capacity(cap) {
    const auto opts = torch::TensorOptions().dtype(torch::kFloat32).device(device);
    z = torch::zeros({cap, inputs}, opts);
    z_boot = torch::zeros({cap, inputs}, opts);
    partial = torch::zeros({cap}, opts);
    bootstrap = torch::zeros({cap}, opts);
    discount = torch::zeros({cap}, opts);
  }

  // Appends n transitions (host vectors) to the ring, wrapping around; at most two copies per
  // tensor, so the buffer may live on a GPU.
  void add(std::vector<float>& zs, std::vector<float>& ps, std::vector<float>& bs,
           std::vector<float>& ds, std::vector<float>& zbs) {
    int64_t n = static_cast<int64_t>(ps.size());
    const int64_t inputs = z.size(1);
    int64_t skip = 0;
    if (n > capacity) {  // only the newest `capacity` survive, where appending one by one leaves them
      skip = n - capacity;
      n = capacity;
      next = (next + skip) % capacity;
    }
    const auto host = [&](std::vector<float>& v, int64_t width) {
      const torch::Tensor t = torch::from_blob(v.data(), {static_cast<int64_t>(v.size()) / width, width});
      return (width == 1 ? t.squeeze(1) : t).narrow(0, skip, n);
    };
    const torch::Tensor hz = host(zs, inputs), hzb = host(zbs, inputs), hp = host(ps, 1),
                        hb = host(bs, 1), hd = host(ds, 1);
    int64_t done = 0;
    while (done < n) {
      const int64_t chunk = std::min(n - done, capacity - next);
      z.narrow(0, next, chunk).copy_(hz.narrow(0, done, chunk));
      z_boot.narrow(0, next, chunk).copy_(hzb.narrow(0, done, chunk));
      partial.narrow(0, next, chunk).copy_(hp.narrow(0, done, chunk));
      bootstrap.narrow(0, next, chunk).copy_(hb.narrow(0, done, chunk));
      discount.narrow(0, next, chunk).copy_(hd.narrow(0, done, chunk));
      next = (next + chunk) % capacity;
      size = std::min(size + chunk, capacity);
      done += chunk;
    }
  }

  // The rank sits above the minibatch's 20 bits (train.minibatches <= 2^20), so every rank draws
  // its own indices and rank 0 draws those of a single-process run.
  torch::Tensor sample_indices(uint64_t seed, uint32_t iteration, uint32_t minibatch,
                               int64_t count, uint32_t rank = 0) const {
    torch::Tensor idx = torch::empty({count}, torch::kInt64);
    auto acc = idx.accessor<int64_t, 1>();
    for (int64_t j = 0; j < count; j += 4) {
      const PhiloxCounter bits = philox4x32_10(
          philox_counter(iteration, minibatch | (rank << 20), static_cast<uint32_t>(j / 4), 0,
                         RandomStream::kReplay),
          philox_key(seed));
      for (int64_t w = 0; w < 4 && j + w < count; ++w)
        acc[j + w] = static_cast<int64_t>((static_cast<uint64_t>(bits.c[w]) * static_cast<uint64_t>(size)) >> 32);
    }
    return idx.to(z.device());
  }

  void save(const fs::path& path) const {
    const torch::Tensor n = torch::tensor({size, next, capacity}, torch::kInt64);
    torch::save(std::vector<torch::Tensor>{z, partial, bootstrap, discount, z_boot, n}, path.string());
  }

  void load(const fs::path& path) {
    std::vector<torch::Tensor> t;
    torch::load(t, path.string());
    if (t.size() != 6 || t[5].numel() != 3 || t[5][2].item<int64_t>() != capacity ||
        t[0].sizes() != z.sizes())
      throw std::runtime_error(path.string() + ": replay buffer of another shape or capacity");
    z = t[0].to(z.device());
    partial = t[1].to(z.device());
    bootstrap = t[2].to(z.device());
    discount = t[3].to(z.device());
    z_boot = t[4].to(z.device());
    size = t[5][0].item<int64_t>();
    next = t[5][1].item<int64_t>();
  }
};

// ---- evaluation -----------------------------------------------------------------------------------------

struct EpisodeResult {
  double start_x, start_y;
  int64_t episode;
  bool success;
  EndReason reason;
  double cost;
  double reach_time;  // < 0: never within the success radius
  double predicted_cost;  // the critic's V̂(T, s₀, g): what it expects the episode to cost
  std::vector<double> px, py;
  std::vector<std::vector<double>> states;  // the whole state after every step (s_0 first)
};

struct EvalSummary {
  int64_t episodes = 0;
  double success_rate = 0, collision_rate = 0, fall_rate = 0, mean_cost = 0;
  double mean_time_to_goal = std::numeric_limits<double>::quiet_NaN();  // over episodes that got there
};

EvalSummary summarize(const std::vector<EpisodeResult>& results) {
  EvalSummary s;
  s.episodes = static_cast<int64_t>(results.size());
  double reach_sum = 0;
  int64_t reached = 0;
  for (const EpisodeResult& r : results) {
    s.success_rate += r.success;
    s.collision_rate += is_collision(r.reason);
    s.fall_rate += r.reason == EndReason::kFall;
    s.mean_cost += r.cost;
    if (r.reach_time >= 0) {
      reach_sum += r.reach_time;
      ++reached;
    }
  }
  if (s.episodes > 0) {
    const double n = static_cast<double>(s.episodes);
    s.success_rate /= n;
    s.collision_rate /= n;
    s.fall_rate /= n;
    s.mean_cost /= n;
  }
  if (reached > 0) s.mean_time_to_goal = reach_sum / static_cast<double>(reached);
  return s;
}

// One control step of every environment still running: each actor solves from its environment's
// state and time left, the environments step, the warm starts move on. active[i] records which
// environments ran; x, tau and u are the caller's buffers (kept to avoid reallocating them).
template <typename System>
void control_step(BatchEnv<System>& env, BatchActor<System>& actor, const TaskParams<double>& task,
                  int shift, const std::vector<double>& goals, std::vector<typename System::State>& x,
                  std::vector<double>& tau, std::vector<double>& u, std::vector<uint8_t>& active) {
  for (size_t i = 0; i < env.size(); ++i) {
    const Episode<System>& s = env.episode(i);
    active[i] = s.reason == EndReason::kRunning;
    x[i] = s.x;
    tau[i] = task.duration - s.step * task.control_period;
  }
  actor.solve(x.data(), tau.data(), goals.data(), u.data(), active.data());
  env.step(u.data());
  actor.shift(shift);
}

template <typename System>
void record_state(const System& sys, const typename System::State& x, EpisodeResult& e) {
  e.px.push_back(sys.position_x(x));
  e.py.push_back(sys.position_y(x));
  e.states.emplace_back(&x[0], &x[0] + System::kStateDim);
}

// Knots the actor's warm start moves on per control period.
int knots_per_control_period(const RunConfig& cfg) {
  return std::max(1, static_cast<int>(std::lround(cfg.env.task.control_period / cfg.actor.knot_dt)));
}

// The evaluation's random streams, apart from the training ones.
uint64_t evaluation_seed(const RunConfig& cfg) { return cfg.env.seed ^ 0x5EED0E7A1ull; }

// The critic's V̂(T, s₀, g): what it expects an episode from s₀ to cost.
template <typename State>
double predicted_episode_cost(const RunConfig& cfg, MlpShape shape, const std::vector<double>& weights,
                              const State& x0, std::array<double, 2> goal) {
  constexpr int NX = State::size();
  double z[NX + 3];
  z[0] = cfg.env.task.duration;
  for (int j = 0; j < NX; ++j) z[1 + j] = static_cast<double>(x0[j]);
  z[NX + 1] = goal[0];
  z[NX + 2] = goal[1];
  return value_mlp<double>(shape, weights.data(), z);
}

// Rolls the actor out on fixed starts: the same code path as training, with its own env ids.
template <typename System>
std::vector<EpisodeResult> run_fixed_starts(const System& sys, const RunConfig& cfg,
                                            const ActorCostParams<double, System::kStateDim, System::kInputDim>& params,
                                            const std::vector<double>& weights, MlpShape shape,
                                            const std::vector<std::array<double, 2>>& starts,
                                            std::array<double, 2> goal, double noise,
                                            int64_t episodes, ThreadPool& pool, bool record) {
  constexpr int NU = System::kInputDim;
  const size_t batch = starts.size();
  BatchEnv<System> env(sys, cfg.env.task, make_noise_model<NU>(noise, cfg.env.input_weight),
                       evaluation_seed(cfg), batch, pool);
  BatchActor<System> actor(sys, cfg.actor, params, cfg.env.task.input_limit, batch, pool);
  actor.set_value({shape, weights.data()});
  const int shift = knots_per_control_period(cfg);
  std::vector<EpisodeResult> results;
  std::vector<typename System::State> x(batch);
  std::vector<double> tau(batch), goals(2 * batch), u(batch * NU, 0.0);
  std::vector<uint8_t> active(batch);
  for (size_t i = 0; i < batch; ++i) {
    goals[2 * i] = goal[0];
    goals[2 * i + 1] = goal[1];
  }
  for (int64_t e = 0; e < episodes; ++e) {
    env.reset_to(starts, goal[0], goal[1], static_cast<uint32_t>(e));
    for (size_t i = 0; i < batch; ++i) actor.reset(i);
    std::vector<EpisodeResult> ep(batch);
    for (size_t i = 0; i < batch; ++i) {
      ep[i].predicted_cost = predicted_episode_cost(cfg, shape, weights, env.episode(i).x, goal);
      ep[i].start_x = starts[i][0];
      ep[i].start_y = starts[i][1];
      ep[i].episode = e;
      if (record) record_state(sys, env.episode(i).x, ep[i]);
    }
    while (!env.all_done()) {
      control_step(env, actor, cfg.env.task, shift, goals, x, tau, u, active);
      if (record)
        for (size_t i = 0; i < batch; ++i)
          if (active[i]) record_state(sys, env.episode(i).x, ep[i]);
    }
    for (size_t i = 0; i < batch; ++i) {
      const Episode<System>& s = env.episode(i);
      ep[i].success = env.succeeded(i);
      ep[i].reason = s.reason;
      ep[i].cost = s.total_cost;
      ep[i].reach_time = s.reach_time;
      results.push_back(std::move(ep[i]));
    }
  }
  return results;
}

#ifdef DMPC_WITH_CUDA
// The same evaluation on the GPU backend (dmpc eval --backend cuda): the fixed starts' episodes
// run in float32 on the device (cuda/device_rollout, the training episodes' code with the starts
// given instead of sampled); V̂(T, s₀, g) and the summary are computed on the host as above.
template <typename System>
std::vector<EpisodeResult> run_fixed_starts_cuda(const System& sys, const RunConfig& cfg,
                                                 const std::vector<double>& weights, MlpShape shape,
                                                 const std::vector<std::array<double, 2>>& starts,
                                                 std::array<double, 2> goal, double noise, int64_t episodes) {
  using DeviceSystem = typename System::template Rebind<float>;
  constexpr int NX = System::kStateDim, NU = System::kInputDim;
  const DeviceSystem dsys{};
  const int batch = static_cast<int>(starts.size());
  cuda::DeviceRollout<DeviceSystem> rollout(
      dsys, cfg.env.task.template cast<float>(), make_noise_model<NU>(noise, cfg.env.input_weight).template cast<float>(),
      evaluation_seed(cfg), batch, 0, make_ilqr_settings<float>(cfg.actor, cfg.env.task.input_limit), cfg.actor.knots(),
      static_cast<float>(cfg.actor.knot_dt), knots_per_control_period(cfg), shape);
  rollout.set_params(make_cost_params(dsys, cfg.actor, cfg.env.input_weight, cfg.env.task.cost,
                                      cfg.env.task.binary_goal_radius));
  const std::vector<float> fweights(weights.begin(), weights.end());
  rollout.set_value(fweights.data());
  rollout.set_actor_layout(cuda::parse_actor_layout(cfg.actor.gpu_layout), cfg.actor.gpu_threads_per_block);
  const TaskParams<float> ftask = cfg.env.task.template cast<float>();
  std::vector<EpisodeResult> results;
  cuda::RolloutRecords<DeviceSystem> r;
  for (int64_t e = 0; e < episodes; ++e) {
    std::vector<Episode<DeviceSystem>> begin(static_cast<size_t>(batch));
    for (int i = 0; i < batch; ++i)
      begin_episode(dsys, begin[static_cast<size_t>(i)], static_cast<uint32_t>(i), static_cast<uint32_t>(e),
                    static_cast<float>(starts[static_cast<size_t>(i)][0]), static_cast<float>(starts[static_cast<size_t>(i)][1]),
                    static_cast<float>(goal[0]), static_cast<float>(goal[1]));
    rollout.run_episode_from(begin, r);
    const size_t b = static_cast<size_t>(batch);
    for (size_t i = 0; i < b; ++i) {
      EpisodeResult ep;
      const auto record = [&](size_t row) {
        typename System::State x;
        for (int j = 0; j < NX; ++j) x[j] = static_cast<double>(r.x[row * b + i][j]);
        record_state(sys, x, ep);
      };
      ep.predicted_cost = predicted_episode_cost(cfg, shape, weights, r.x[i], goal);
      ep.start_x = starts[i][0];
      ep.start_y = starts[i][1];
      ep.episode = e;
      record(0);
      for (size_t t = 0; t < static_cast<size_t>(r.steps); ++t)
        if (r.active[t * b + i]) record(t + 1);
      const Episode<DeviceSystem>& end = r.episodes[i];
      ep.success = episode_succeeded(dsys, ftask, end);
      ep.reason = end.reason;
      ep.cost = static_cast<double>(end.total_cost);
      ep.reach_time = static_cast<double>(end.reach_time);
      results.push_back(std::move(ep));
    }
  }
  return results;
}
#endif

// state.toml of a checkpoint directory, after checking every file against its checksum and, when
// world_size > 0, that it was written by a run of that many processes.
toml::table verified_state(const fs::path& dir, int64_t world_size = 0) {
  if (!fs::is_directory(dir)) throw std::runtime_error(dir.string() + ": no such checkpoint");
  toml::table state;
  try {
    state = toml::parse_file((dir / "state.toml").string());
  } catch (const toml::parse_error& e) {
    throw std::runtime_error((dir / "state.toml").string() + ": corrupted (" +
                             std::string(e.description()) + ")");
  }
  if (state["format"].value_or<int64_t>(0) != 1)
    throw std::runtime_error((dir / "state.toml").string() + ": unknown checkpoint format");
  const int64_t written_by = state["world_size"].value_or<int64_t>(1);
  if (written_by < 1)
    throw std::runtime_error((dir / "state.toml").string() + ": bad world_size " + std::to_string(written_by));
  if (world_size > 0 && written_by != world_size)
    throw std::runtime_error(dir.string() + ": written by a run on " + std::to_string(written_by) +
                             " process(es), this one has " + std::to_string(world_size) +
                             "; resume it on the same number (" +
                             (written_by == 1 ? std::string("without mpirun")
                                              : "mpirun -np " + std::to_string(written_by)) +
                             "): each process's replay buffer is part of the checkpoint");
  const toml::table* sums = state["checksums"].as_table();
  if (!sums) throw std::runtime_error((dir / "state.toml").string() + ": no checksums");
  for (auto&& [name, value] : *sums) {
    const fs::path file = dir / std::string(name.str());
    if (!fs::exists(file)) throw std::runtime_error(file.string() + ": missing from the checkpoint");
    if (file_checksum(file) != value.value_or(std::string()))
      throw std::runtime_error(file.string() + ": corrupted (checksum mismatch)");
  }
  return state;
}

// The checkpoint a resumed run continues from: the run directory's latest.
fs::path resume_checkpoint(const fs::path& run_dir) {
  const fs::path latest = run_dir / "checkpoints" / "latest";
  if (!fs::exists(latest)) throw std::runtime_error(run_dir.string() + ": no checkpoint to resume from");
  return latest_checkpoint(latest);
}

// The iteration of that checkpoint (checked as resuming checks it).
int64_t read_state_iteration(const fs::path& run_dir) {
  return verified_state(resume_checkpoint(run_dir))["iteration"].value_or<int64_t>(0);
}

// ---- the trainer --------------------------------------------------------------------------------------

struct IterationStats {
  int64_t steps = 0, episodes = 0;
  double success = 0, collision = 0, fall = 0, cost = 0;
  int64_t own_steps = 0;                      // this process's steps (steps: the job's)
  int64_t knot_iterations = 0;                // this process's actor knot-iterations (benchmark)
  double collect_seconds = 0, update_seconds = 0;  // this process's (benchmark)
};

// Test-only hooks (`dmpc train --inject-failure`, `--dump-parameters`).
struct TrainHooks {
  int fail_rank = -1;
  int64_t fail_iteration = 0;  // the iteration (1-based) that fails on fail_rank
  bool fail_with_nan = false;  // a NaN critic loss instead of an exception
  std::string dump_dir;        // each process writes its critic and target parameters here
};

// The file of rank r's replay buffer in a checkpoint (rank 0's keeps the single-process name).
std::string replay_file(int rank) {
  return rank == 0 ? std::string("replay.pt") : "replay-rank-" + std::to_string(rank) + ".pt";
}

// Data parallel over the processes of `comm`: process r runs environments r·B … r·B + B − 1 and
// fills its own replay buffer; each minibatch's gradient is averaged over the processes (sum_to_all
// is bit-identical everywhere), so the critic, its target and the optimizer stay identical on every
// process, which is checked after every update phase. Rank 0 evaluates and writes the run directory.
template <typename System>
class Trainer {
 public:
  static constexpr int NX = System::kStateDim, NU = System::kInputDim;
  using Params = ActorCostParams<double, NX, NU>;

  Trainer(const RunConfig& cfg, const fs::path& run_dir, Comm& comm, TrainHooks hooks = {})
      : cfg_(cfg), run_dir_(run_dir), comm_(comm), hooks_(std::move(hooks)), shape_(critic_shape(cfg)),
        device_(critic_device(cfg.critic, comm.local_rank())),
        engine_(resolved_critic_engine(cfg.critic, device_)), pool_(static_cast<size_t>(cfg.env.threads)),
        critic_(make_value_net(shape_, device_)), target_(make_value_net(shape_, device_)),
        optimizer_(critic_->parameters(), torch::optim::AdamWOptions(cfg.critic.learning_rate)
                                              .weight_decay(cfg.critic.weight_decay)),
        replay_(cfg.train.replay_capacity, shape_.inputs, device_),
        env_(sys_, cfg.env.task, make_noise_model<NU>(cfg.env.process_noise, cfg.env.input_weight),
             cfg.env.seed, host_batch(cfg), pool_, first_env_id(cfg, comm)),
        value_params_(make_cost_params(sys_, cfg.actor, cfg.env.input_weight, cfg.env.task.cost,
                                       cfg.env.task.binary_goal_radius)),
        actor_(sys_, cfg.actor, value_params_, cfg.env.task.input_limit, host_batch(cfg), pool_) {
    if (cfg.critic.engine == "native" && !device_.is_cpu())
      throw std::runtime_error("critic.engine = \"native\" computes on the CPU, but the critic is on " + device_.str() +
                               " (critic.device = \"" + cfg.critic.device +
                               "\"): set critic.device = \"cpu\" or \"auto\", or critic.engine = \"auto\" or \"libtorch\"");
    ActorSettings warm = cfg.actor;
    warm.mode = ActorCostMode::kQuadratic;
    warmup_params_ = make_cost_params(sys_, warm, cfg.env.input_weight, cfg.env.task.cost,
                                      cfg.env.task.binary_goal_radius);
    // Deterministic initialisation from the seed; the target starts equal to the critic.
    std::vector<double> offset, scale, walls;
    critic_init_inputs(cfg, offset, scale, walls);
    load_flat(critic_, random_value_network(shape_, cfg.env.seed, cfg.critic.init_output_scale, offset,
                                            scale, walls)
                           .params);
    load_flat(target_, to_flat(critic_));
    if (episodes_on_gpu(cfg)) make_device_rollout(warm);
    make_gradient_allreduce();
    publish_target();
    check_identical("at initialisation");
  }

  bool on_gpu() const {
#ifdef DMPC_WITH_CUDA
    return rollout_ != nullptr;
#else
    return false;
#endif
  }

  int64_t iteration() const { return iteration_; }
  // The mean TD term of the last update phase (the loss less the HJB terms; this process's minibatches).
  double td_loss() const { return td_loss_; }

  // One learning iteration: collect B episodes (on every process), update the critic, publish the
  // target. stats and loss are over all processes.
  void step(IterationStats& stats, double& loss) {
    if (comm_.rank() == hooks_.fail_rank && iteration_ + 1 == hooks_.fail_iteration && !hooks_.fail_with_nan)
      throw std::runtime_error("injected failure (--inject-failure) in iteration " +
                               std::to_string(iteration_ + 1));
    const bool warmup = iteration_ < cfg_.train.warmup_iterations;
    actor_.set_params(warmup ? warmup_params_ : value_params_);
#ifdef DMPC_WITH_CUDA
    if (rollout_) rollout_->set_params(warmup ? device_warmup_params_ : device_value_params_);
#endif
    const auto t0 = std::chrono::steady_clock::now();
    collect(stats);
    const auto t1 = std::chrono::steady_clock::now();
    loss = update_critic();
    stats.collect_seconds = std::chrono::duration<double>(t1 - t0).count();
    stats.update_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t1).count();
    stats.own_steps = stats.steps;
    if (comm_.distributed()) {  // the figures of the whole batch, over every process
      double sums[6] = {static_cast<double>(stats.steps), static_cast<double>(stats.episodes),
                        stats.success, stats.collision, stats.fall, stats.cost};
      comm_.sum_to_all(sums, 6);
      stats.steps = static_cast<int64_t>(sums[0]);
      stats.episodes = static_cast<int64_t>(sums[1]);
      stats.success = sums[2];
      stats.collision = sums[3];
      stats.fall = sums[4];
      stats.cost = sums[5];
      check_identical("after iteration " + std::to_string(iteration_ + 1));
    }
    const double n = static_cast<double>(stats.episodes);
    stats.success /= n;
    stats.collision /= n;
    stats.fall /= n;
    stats.cost /= n;
    ++iteration_;
    env_steps_ += stats.steps;
    episodes_ += stats.episodes;
    if (!hooks_.dump_dir.empty()) dump_parameters();
  }

  EvalSummary evaluate_fixed() {
    const auto results = run_fixed_starts(sys_, cfg_, value_params_, target_flat_, shape_,
                                          cfg_.env.eval_starts, cfg_.env.eval_goal,
                                          cfg_.env.eval_process_noise, 1, pool_, false);
    return summarize(results);
  }

  // Collective: every process writes its replay buffer, rank 0 everything else and state.toml
  // (with every file's checksum and the world size), then renames the directory into place.
  void save_checkpoint(double wall_seconds) {
    const fs::path dir = run_dir_ / "checkpoints";
    char name[32];
    std::snprintf(name, sizeof name, "iter-%06lld", static_cast<long long>(iteration_));
    const fs::path tmp = dir / (std::string(".tmp-") + name), final_dir = dir / name;
    const bool root = comm_.rank() == 0;
    if (root) {
      fs::create_directories(dir);
      fs::remove_all(tmp);
      fs::create_directories(tmp);
    }
    comm_.barrier();
    const std::string mine = replay_file(comm_.rank());
    replay_.save(tmp / mine);
    const std::vector<uint64_t> replay_sums = comm_.gather(file_hash(tmp / mine));
    if (root) {
      torch::save(critic_, (tmp / "critic.pt").string());
      torch::save(target_, (tmp / "target.pt").string());
      torch::save(optimizer_, (tmp / "optimizer.pt").string());
      write_atomic(tmp / "config.toml", cfg_.resolved);
      toml::table state{{"format", 1},
                        {"iteration", iteration_},
                        {"env_steps", env_steps_},
                        {"episodes", episodes_},
                        {"wall_seconds", wall_seconds},
                        {"system", cfg_.env.system},
                        {"world_size", comm_.size()}};
      toml::table sums;
      for (const char* f : {"critic.pt", "target.pt", "optimizer.pt", "config.toml"})
        sums.insert(f, file_checksum(tmp / f));
      for (int r = 0; r < comm_.size(); ++r) sums.insert(replay_file(r), hex64(replay_sums[static_cast<size_t>(r)]));
      state.insert("checksums", sums);
      std::ostringstream os;
      os << state << "\n";
      write_atomic(tmp / "state.toml", os.str());
      fs::remove_all(final_dir);
      fs::rename(tmp, final_dir);
      write_atomic(dir / "latest", std::string(name) + "\n");
      // Keep the newest few.
      std::vector<fs::path> all;
      for (const auto& e : fs::directory_iterator(dir))
        if (e.is_directory() && e.path().filename().string().rfind("iter-", 0) == 0) all.push_back(e.path());
      std::sort(all.begin(), all.end());
      for (size_t i = 0; i + static_cast<size_t>(cfg_.train.keep_checkpoints) < all.size(); ++i)
        fs::remove_all(all[i]);
    }
    comm_.barrier();
  }

  // Loads a checkpoint directory (verified by rank 0; every process loads the shared critic,
  // target and optimizer and its own replay buffer); returns its wall time.
  double load_checkpoint(const fs::path& dir) {
    if (comm_.rank() == 0) verified_state(dir, comm_.size());
    comm_.barrier();
    const toml::table state = toml::parse_file((dir / "state.toml").string());
    if (state["archived"].value_or(false))
      throw std::runtime_error(dir.string() +
                               ": an archived checkpoint (tools/archive_runs.py keeps the critic and target "
                               "network, not the replay buffer or the optimizer's state): it can be evaluated and "
                               "plotted, not resumed");
    try {
      torch::load(critic_, (dir / "critic.pt").string(), device_);
      torch::load(target_, (dir / "target.pt").string(), device_);
      torch::load(optimizer_, (dir / "optimizer.pt").string(), device_);
      replay_.load(dir / replay_file(comm_.rank()));
    } catch (const c10::Error& e) {
      throw std::runtime_error(dir.string() + ": checkpoint cannot be loaded: " +
                               std::string(e.what_without_backtrace()));
    }
    iteration_ = state["iteration"].value_or<int64_t>(0);
    env_steps_ = state["env_steps"].value_or<int64_t>(0);
    episodes_ = state["episodes"].value_or<int64_t>(0);
    publish_target();
    check_identical("after loading " + dir.string());
    return state["wall_seconds"].value_or(0.0);
  }

  const std::vector<double>& target_flat() const { return target_flat_; }
  int64_t env_steps() const { return env_steps_; }
  int64_t episodes() const { return episodes_; }
  std::string critic_device_name() const { return device_.str(); }
  const std::string& critic_engine() const { return engine_; }  // critic.engine resolved
  // How the critic's gradients are combined: over one process there is nothing to combine unless
  // NCCL was asked for (a communicator of one).
  std::string gradient_exchange() const {
    const std::string processes = std::to_string(comm_.size()) + (comm_.size() == 1 ? " process" : " processes");
    if (has_nccl()) return "NCCL, " + processes;
    return comm_.distributed() ? "MPI, " + processes : "none (1 process)";
  }

 private:
  // The CPU environments and actors: the batch on the CPU backend, one (unused) on the GPU's.
  static size_t host_batch(const RunConfig& cfg) {
    return use_cuda_backend(cfg.backend) ? 1 : static_cast<size_t>(cfg.env.batch);
  }

  static uint32_t first_env_id(const RunConfig& cfg, const Comm& comm) {
    if (comm.size() > 4096)
      throw std::runtime_error("at most 4096 processes are supported (replay sampling streams)");
    const int64_t first = static_cast<int64_t>(comm.rank()) * cfg.env.batch;
    if (first + cfg.env.batch > (int64_t{1} << 32))
      throw std::runtime_error("env.batch x processes exceeds 2^32 environment ids");
    return static_cast<uint32_t>(first);
  }

  void publish_target() {
    target_flat_ = to_flat(target_);
    actor_.set_value({shape_, target_flat_.data()});
#ifdef DMPC_WITH_CUDA
    if (rollout_) {
      const std::vector<float> weights(target_flat_.begin(), target_flat_.end());
      rollout_->set_value(weights.data());
    }
#endif
  }

  void make_device_rollout([[maybe_unused]] const ActorSettings& warm) {
#ifdef DMPC_WITH_CUDA
    const int count = cuda::device_count();
    DMPC_CUDA_CHECK(cudaSetDevice(comm_.local_rank() % count));  // one GPU per node-local rank
    const DeviceSystem dsys{};
    device_value_params_ = make_cost_params(dsys, cfg_.actor, cfg_.env.input_weight, cfg_.env.task.cost,
                                            cfg_.env.task.binary_goal_radius);
    device_warmup_params_ = make_cost_params(dsys, warm, cfg_.env.input_weight, cfg_.env.task.cost,
                                             cfg_.env.task.binary_goal_radius);
    const int shift = knots_per_control_period(cfg_);
    rollout_ = std::make_unique<cuda::DeviceRollout<DeviceSystem>>(
        dsys, cfg_.env.task.template cast<float>(),
        make_noise_model<NU>(cfg_.env.process_noise, cfg_.env.input_weight).template cast<float>(),
        cfg_.env.seed, static_cast<int>(cfg_.env.batch), first_env_id(cfg_, comm_),
        make_ilqr_settings<float>(cfg_.actor, cfg_.env.task.input_limit), cfg_.actor.knots(),
        static_cast<float>(cfg_.actor.knot_dt), shift, shape_);
    rollout_->set_params(device_value_params_);
    rollout_->set_actor_layout(cuda::parse_actor_layout(cfg_.actor.gpu_layout), cfg_.actor.gpu_threads_per_block);
#endif
  }

  // The critic's and the target's parameters as float32 bytes, in module order.
  std::string parameter_bytes() {
    std::string bytes;
    for (ValueNet* net : {&critic_, &target_})
      for (const torch::Tensor& p : (*net)->parameters()) {
        const torch::Tensor h = p.detach().to(torch::kCPU).to(torch::kFloat32).contiguous();
        bytes.append(reinterpret_cast<const char*>(h.data_ptr<float>()),
                     static_cast<size_t>(h.numel()) * sizeof(float));
      }
    return bytes;
  }

  // Every process must hold the same bits; rank 0 compares their hashes.
  void check_identical(const std::string& when) {
    if (!comm_.distributed()) return;
    const std::string bytes = parameter_bytes();
    const std::vector<uint64_t> hashes = comm_.gather(fnv1a(bytes.data(), bytes.size()));
    for (size_t r = 1; r < hashes.size(); ++r)
      if (hashes[r] != hashes[0])
        throw std::runtime_error("the critic's parameters on rank " + std::to_string(r) +
                                 " differ from rank 0's " + when +
                                 " (processes on different CPU types or LibTorch builds?)");
  }

  void dump_parameters() {
    fs::create_directories(hooks_.dump_dir);
    write_atomic(fs::path(hooks_.dump_dir) / ("rank-" + std::to_string(comm_.rank()) + ".bin"),
                 parameter_bytes());
  }

  void collect(IterationStats& stats) {
#ifdef DMPC_WITH_CUDA
    if (rollout_) return collect_on_device(stats);
#endif
    const size_t batch = env_.size();
    const TaskParams<double>& task = cfg_.env.task;
    env_.reset(static_cast<uint32_t>(iteration_));
    for (size_t i = 0; i < batch; ++i) actor_.reset(i);
    const int shift = knots_per_control_period(cfg_);
    std::vector<std::vector<EpisodeStep>> steps(batch);
    std::vector<std::vector<typename System::State>> states(batch);
    std::vector<typename System::State> x(batch);
    std::vector<double> tau(batch), goals(2 * batch), u(batch * NU, 0.0);
    std::vector<uint8_t> active(batch);
    for (size_t i = 0; i < batch; ++i) {
      states[i].push_back(env_.episode(i).x);
      goals[2 * i] = env_.episode(i).goal_x;
      goals[2 * i + 1] = env_.episode(i).goal_y;
    }
    while (!env_.all_done()) {
      control_step(env_, actor_, task, shift, goals, x, tau, u, active);
      for (size_t i = 0; i < batch; ++i) {
        if (!active[i]) continue;
        stats.knot_iterations += static_cast<int64_t>(actor_.result(i).iterations) * actor_.horizon_knots(tau[i]);
        // The critic values the path cost of the paper's Eq. 4: the task's cost plus ½ uᵀRu δt.
        double control = 0;
        if (cfg_.critic.control_cost)
          for (int j = 0; j < NU; ++j) {
            const double uj = std::clamp(u[i * NU + j], -task.input_limit, task.input_limit);
            control += 0.5 * cfg_.env.input_weight[static_cast<size_t>(j)] * uj * uj * task.control_period;
          }
        steps[i].push_back({tau[i], env_.stage_cost()[i] + control, env_.terminal_cost()[i],
                            env_.reason()[i]});
        states[i].push_back(env_.episode(i).x);
        ++stats.steps;
      }
    }
    std::vector<EpisodeOutcome> outcomes(batch);
    for (size_t i = 0; i < batch; ++i) {
      const Episode<System>& s = env_.episode(i);
      outcomes[i] = {env_.succeeded(i), s.reason, static_cast<double>(s.total_cost)};
    }
    store(steps, states, goals, outcomes, stats);
  }

  struct EpisodeOutcome {
    bool success;
    EndReason reason;
    double total_cost;
  };

#ifdef DMPC_WITH_CUDA
  // The same episodes' records from the GPU rollout (float32 there), into the same targets.
  void collect_on_device(IterationStats& stats) {
    const TaskParams<double>& task = cfg_.env.task;
    if (replay_on_rollout_device()) return collect_into_device_replay(stats);
    rollout_->run_episode(static_cast<uint32_t>(iteration_), records_);
    const cuda::RolloutRecords<DeviceSystem>& r = records_;
    const size_t batch = static_cast<size_t>(r.batch);
    const auto state_of = [&](size_t row, size_t i) {
      typename System::State x;
      for (int j = 0; j < NX; ++j) x[j] = static_cast<double>(r.x[row * batch + i][j]);
      return x;
    };
    std::vector<std::vector<EpisodeStep>> steps(batch);
    std::vector<std::vector<typename System::State>> states(batch);
    std::vector<double> goals(2 * batch);
    for (size_t i = 0; i < batch; ++i) {
      states[i].push_back(state_of(0, i));
      goals[2 * i] = static_cast<double>(r.episodes[i].goal_x);
      goals[2 * i + 1] = static_cast<double>(r.episodes[i].goal_y);
    }
    for (size_t t = 0; t < static_cast<size_t>(r.steps); ++t)
      for (size_t i = 0; i < batch; ++i) {
        const size_t at = t * batch + i;
        if (!r.active[at]) continue;
        const double tau = static_cast<double>(r.tau[at]);
        stats.knot_iterations += static_cast<int64_t>(r.iterations[at]) * actor_.horizon_knots(tau);
        double control = 0;
        if (cfg_.critic.control_cost)
          for (int j = 0; j < NU; ++j) {
            const double uj = std::clamp(static_cast<double>(r.u[at * NU + static_cast<size_t>(j)]),
                                         -task.input_limit, task.input_limit);
            control += 0.5 * cfg_.env.input_weight[static_cast<size_t>(j)] * uj * uj * task.control_period;
          }
        steps[i].push_back({tau, static_cast<double>(r.stage_cost[at]) + control,
                            static_cast<double>(r.terminal_cost[at]), static_cast<EndReason>(r.reason[at])});
        states[i].push_back(state_of(t + 1, i));
        ++stats.steps;
      }
    const DeviceSystem dsys{};
    const TaskParams<float> ftask = task.template cast<float>();
    std::vector<EpisodeOutcome> outcomes(batch);
    for (size_t i = 0; i < batch; ++i) {
      const Episode<DeviceSystem>& e = r.episodes[i];
      outcomes[i] = {episode_succeeded(dsys, ftask, e), e.reason, static_cast<double>(e.total_cost)};
    }
    store(steps, states, goals, outcomes, stats);
  }
#endif

#ifdef DMPC_WITH_CUDA
  // The replay buffer's tensors are on the GPU the episodes run on: targets go straight there.
  bool replay_on_rollout_device() const {
    int current = -1;
    DMPC_CUDA_CHECK(cudaGetDevice(&current));
    return replay_.z.is_cuda() && replay_.z.device().index() == current;
  }

  // The whole iteration's data stays on the GPU: episodes, n-step targets, replay insertion
  // (cuda/device_rollout); only the totals and the B final episode states come to the host.
  void collect_into_device_replay(IterationStats& stats) {
    const TaskParams<double>& task = cfg_.env.task;
    for (torch::Tensor* t : {&replay_.z, &replay_.z_boot, &replay_.partial, &replay_.bootstrap, &replay_.discount})
      *t = t->contiguous();  // (a resumed buffer is; the kernel writes rows by raw pointer)
    cuda::DeviceReplay replay;
    replay.z = replay_.z.data_ptr<float>();
    replay.z_boot = replay_.z_boot.data_ptr<float>();
    replay.partial = replay_.partial.data_ptr<float>();
    replay.bootstrap = replay_.bootstrap.data_ptr<float>();
    replay.discount = replay_.discount.data_ptr<float>();
    replay.capacity = replay_.capacity;
    replay.next = replay_.next;
    replay.size = replay_.size;
    replay.inputs = static_cast<int>(shape_.inputs);
    cuda::TargetSettings targets;
    targets.n = cfg_.critic.n_step;
    targets.step_discount = static_cast<float>(std::pow(cfg_.actor.discount, task.control_period));
    targets.control_period = static_cast<float>(task.control_period);
    targets.control_cost = cfg_.critic.control_cost;
    for (int j = 0; j < NU; ++j) targets.input_weight[j] = static_cast<float>(cfg_.env.input_weight[static_cast<size_t>(j)]);
    targets.input_limit = static_cast<float>(task.input_limit);
    torch::cuda::synchronize();  // the critic's last reads of the ring are done before it is overwritten
    cuda::RolloutTotals totals;
    rollout_->run_episode_into_replay(static_cast<uint32_t>(iteration_), targets, replay, totals, final_episodes_);
    replay_.next = replay.next;
    replay_.size = replay.size;
    stats.steps += totals.steps;
    stats.knot_iterations += totals.knot_iterations;
    const DeviceSystem dsys{};
    const TaskParams<float> ftask = task.template cast<float>();
    std::vector<EpisodeOutcome> outcomes(final_episodes_.size());
    for (size_t i = 0; i < final_episodes_.size(); ++i) {
      const Episode<DeviceSystem>& e = final_episodes_[i];
      outcomes[i] = {episode_succeeded(dsys, ftask, e), e.reason, static_cast<double>(e.total_cost)};
    }
    add_outcomes(outcomes, stats);
  }
#endif

  void add_outcomes(const std::vector<EpisodeOutcome>& outcomes, IterationStats& stats) const {
    for (const EpisodeOutcome& o : outcomes) {
      stats.success += o.success;
      stats.collision += is_collision(o.reason);
      stats.fall += o.reason == EndReason::kFall;
      stats.cost += o.total_cost;
      ++stats.episodes;
    }
  }

  // n-step targets of every episode into the replay buffer; the episodes' figures into stats.
  void store(const std::vector<std::vector<EpisodeStep>>& steps,
             const std::vector<std::vector<typename System::State>>& states,
             const std::vector<double>& goals, const std::vector<EpisodeOutcome>& outcomes,
             IterationStats& stats) {
    const TaskParams<double>& task = cfg_.env.task;
    const size_t batch = steps.size();
    // Targets → replay.
    std::vector<float> zs, ps, bs, ds, zbs;
    const auto put = [&](std::vector<float>& out, double t, const typename System::State& s, size_t i) {
      out.push_back(static_cast<float>(t));
      for (int j = 0; j < NX; ++j) out.push_back(static_cast<float>(s[j]));
      out.push_back(static_cast<float>(goals[2 * i]));
      out.push_back(static_cast<float>(goals[2 * i + 1]));
    };
    for (size_t i = 0; i < batch; ++i) {
      const std::vector<TdTarget> y =
          n_step_targets(steps[i], cfg_.critic.n_step, cfg_.actor.discount, task.control_period);
      for (size_t t = 0; t < y.size(); ++t) {
        put(zs, steps[i][t].tau, states[i][t], i);
        ps.push_back(static_cast<float>(y[t].partial));
        bs.push_back(y[t].bootstrap ? 1.0f : 0.0f);
        ds.push_back(static_cast<float>(y[t].discount));
        put(zbs, y[t].bootstrap ? y[t].boot_tau : 0.0,
            states[i][static_cast<size_t>(y[t].bootstrap ? y[t].boot_step : 0)], i);
      }
    }
    add_outcomes(outcomes, stats);
    replay_.add(zs, ps, bs, ds, zbs);
  }

  // critic.allreduce: NCCL between the processes' GPUs when asked for (or, with "auto", when the
  // critic is on a GPU, the build has NCCL and there are several processes); else MPI through
  // host memory. "nccl" asked for explicitly takes the NCCL path with one process too (a
  // communicator of one): the same code a multi-GPU job runs, checkable on a single GPU.
  void make_gradient_allreduce() {
    const std::string& how = cfg_.critic.allreduce;
    const bool gpu = device_.is_cuda();
    if (how == "nccl" && !gpu)
      throw std::runtime_error("critic.allreduce = \"nccl\" needs the critic on a GPU (critic.device)");
#ifdef DMPC_WITH_NCCL
    if (gpu && (how == "nccl" || (how == "auto" && comm_.distributed())))
      nccl_ = std::make_unique<NcclAllReduce>(comm_, static_cast<int>(device_.index() < 0 ? 0 : device_.index()));
#else
    if (how == "nccl")
      throw std::runtime_error("critic.allreduce = \"nccl\" but this build has no NCCL (DMPC_WITH_NCCL=OFF)");
#endif
  }

#ifdef DMPC_WITH_NCCL
  // The NCCL path of average_gradients: the gradients and the loss in one float buffer on the GPU.
  double average_gradients_nccl(double local_loss) {
    std::vector<torch::Tensor> params = critic_->parameters();
    std::vector<torch::Tensor> parts;
    for (const torch::Tensor& p : params) parts.push_back(p.grad().detach().reshape({-1}).to(torch::kFloat32));
    parts.push_back(torch::full({1}, local_loss, parts.front().options()));
    torch::Tensor flat = torch::cat(parts).contiguous();
    torch::cuda::synchronize();  // the gradients are computed before NCCL reads them on its stream
    nccl_->sum(flat.data_ptr<float>(), static_cast<size_t>(flat.numel()));
    flat.div_(static_cast<double>(comm_.size()));
    int64_t at = 0;
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : params) {
      torch::Tensor g = p.grad();
      g.copy_(flat.narrow(0, at, g.numel()).view(g.sizes()).to(g.dtype()));
      at += g.numel();
    }
    return flat[at].item<double>();
  }
#endif

  bool has_nccl() const {
#ifdef DMPC_WITH_NCCL
    return nccl_ != nullptr;
#else
    return false;
#endif
  }

  // Σ over processes of every parameter's gradient, then ÷ P: the gradient of the mean loss over
  // all processes' minibatches. The local loss rides along (the last entry).
  double average_gradients(double local_loss) {
#ifdef DMPC_WITH_NCCL
    if (nccl_) return average_gradients_nccl(local_loss);
#endif
    std::vector<torch::Tensor> params = critic_->parameters();
    std::vector<double> flat;
    for (const torch::Tensor& p : params) {
      const torch::Tensor g = p.grad().detach().to(torch::kCPU).to(torch::kFloat64).contiguous();
      flat.insert(flat.end(), g.data_ptr<double>(), g.data_ptr<double>() + g.numel());
    }
    flat.push_back(local_loss);
    comm_.sum_to_all(flat.data(), flat.size());
    const double world = static_cast<double>(comm_.size());
    size_t at = 0;
    torch::NoGradGuard no_grad;
    for (torch::Tensor& p : params) {
      torch::Tensor g = p.grad();
      const torch::Tensor mean =
          torch::from_blob(flat.data() + at, g.sizes(), torch::kFloat64).div(world);
      g.copy_(mean.to(g.dtype()).to(g.device()));
      at += static_cast<size_t>(g.numel());
    }
    return flat.back() / world;
  }

  // f(x), G(x) [x's row-major NX × NU] and the task's running cost q at the states of n inputs
  // z = [τ, x, g] (rows of `inputs` numbers). Outside the model (no solution for the
  // accelerations) f = G = 0: the HJB term there asks ∂_τV̂ − ln(γ) V̂ = q only.
  // Computed in double, stored as Out (float for the native engine).
  template <typename Z, typename Out>
  void hjb_model_terms(const Z* z, int64_t n, int64_t inputs, Out* f, Out* g, Out* q) const {
    for (int64_t i = 0; i < n; ++i) {
      const Z* zi = z + i * inputs;
      typename System::State x, drift;
      for (int j = 0; j < NX; ++j) x[j] = static_cast<double>(zi[1 + j]);
      typename System::InputMatrix input_map;
      if (!sys_.drift_and_input_map(x, drift, input_map)) {
        drift = System::State::zero();
        input_map = System::InputMatrix::zero();
      }
      for (int j = 0; j < NX; ++j) {
        f[i * NX + j] = static_cast<Out>(drift[j]);
        for (int c = 0; c < NU; ++c) g[(i * NX + j) * NU + c] = static_cast<Out>(input_map(j, c));
      }
      q[i] = static_cast<Out>(running_cost(cfg_.env.task, sys_.position_x(x), sys_.position_y(x),
                                           static_cast<double>(zi[NX + 1]), static_cast<double>(zi[NX + 2])));
    }
  }

  // 1/R_j of the input weights, and c of critic.hjb_form: V*'s HJB (Eq. 14, ½) or the greedy
  // input's own equation (1).
  std::vector<double> hjb_r_inverse() const {
    std::vector<double> r_inverse(NU);
    for (int c = 0; c < NU; ++c) r_inverse[static_cast<size_t>(c)] = 1.0 / cfg_.env.input_weight[static_cast<size_t>(c)];
    return r_inverse;
  }
  double hjb_quadratic() const { return cfg_.critic.hjb_form == "greedy_policy" ? 1.0 : 0.5; }

  // l̂ − q at a minibatch's inputs zg (requires grad; v = V̂(zg)), differentiable in θ: see
  // CriticSettings::hjb_weight. f, g and q at each state are the model's and the task's, computed
  // on the host in double (they do not depend on θ).
  torch::Tensor hjb_residual(const torch::Tensor& zg, const torch::Tensor& v) {
    const int64_t n = zg.size(0);
    const torch::Tensor zh = zg.detach().to(torch::kCPU, torch::kFloat64).contiguous();
    torch::Tensor f = torch::empty({n, NX}, torch::kFloat64), g = torch::empty({n, NX, NU}, torch::kFloat64),
                  q = torch::empty({n}, torch::kFloat64);
    hjb_model_terms(zh.data_ptr<double>(), n, zh.size(1), f.data_ptr<double>(), g.data_ptr<double>(),
                    q.data_ptr<double>());
    const auto on = [&](const torch::Tensor& t) { return t.to(zg.device(), zg.scalar_type()); };
    return eq14_running_cost(zg, v, on(f), on(g), on(torch::tensor(hjb_r_inverse(), torch::kFloat64)),
                             std::log(cfg_.actor.discount), hjb_quadratic()) -
           on(q);
  }

  // The HJB term's collocation draws of minibatch k (CriticSettings::hjb_collocation): Philox
  // draws keyed by the seed, iteration, minibatch and rank, so runs and resumes repeat them.
  // interior: the free draws; boundary/boundary_value: the conditions of hjb_boundary_weight (the
  // draws in a wall's zone with the penalty, the free draws at τ = 0 with q_f).
  struct Collocation {
    torch::Tensor interior, boundary, boundary_value;
  };

  Collocation collocation_points(uint32_t minibatch) {
    const int64_t want = std::llround(cfg_.critic.hjb_collocation * static_cast<double>(cfg_.train.minibatch_size));
    const int64_t inputs = shape_.inputs;
    std::vector<float> rows, edge, edge_value;
    rows.reserve(static_cast<size_t>(want * inputs));
    const std::vector<double>& offset = cfg_.critic.input_offset;
    const std::vector<double>& scale = cfg_.critic.input_scale;
    const TaskParams<double>& task = cfg_.env.task;
    const bool boundary = cfg_.critic.hjb_boundary_weight > 0;
    std::vector<double> zi(static_cast<size_t>(inputs));
    for (int64_t j = 0; j < want; ++j) {
      for (int64_t c = 0; c < inputs; c += 4) {
        const PhiloxCounter bits = philox4x32_10(
            philox_counter(static_cast<uint32_t>(iteration_), minibatch | (static_cast<uint32_t>(comm_.rank()) << 20),
                           static_cast<uint32_t>(j), static_cast<uint32_t>(1 + c / 4), RandomStream::kReplay),
            philox_key(cfg_.env.seed));
        for (int64_t w = 0; w < 4 && c + w < inputs; ++w) {
          const size_t at = static_cast<size_t>(c + w);
          zi[at] = offset[at] + scale[at] * (2.0 * uniform_open01<double>(bits.c[w]) - 1.0);
        }
      }
      zi[0] = std::clamp(zi[0], 1e-3, task.duration);  // time left
      typename System::State x;
      for (int i = 0; i < NX; ++i) x[i] = zi[static_cast<size_t>(1 + i)];
      const double px = sys_.position_x(x), py = sys_.position_y(x);
      const double gx = zi[static_cast<size_t>(NX + 1)], gy = zi[static_cast<size_t>(NX + 2)];
      if (hits_wall(task, px, py) || outside_arena(task, px, py)) {
        if (boundary) {
          edge.insert(edge.end(), zi.begin(), zi.end());
          edge_value.push_back(static_cast<float>(task.penalty));
        }
        continue;
      }
      rows.insert(rows.end(), zi.begin(), zi.end());
      if (boundary) {
        edge.insert(edge.end(), zi.begin(), zi.end());
        edge[edge.size() - static_cast<size_t>(inputs)] = 0.0f;  // τ = 0: the time is up
        edge_value.push_back(static_cast<float>(terminal_cost(task, px, py, gx, gy)));
      }
    }
    const auto tensor = [&](std::vector<float>& v, int64_t width) {
      const int64_t n = static_cast<int64_t>(v.size()) / width;
      return torch::from_blob(v.data(), {n, width}, torch::kFloat32).clone();
    };
    return {tensor(rows, inputs), tensor(edge, inputs), tensor(edge_value, 1).squeeze(1)};
  }

  double update_critic() {
    if (replay_.size == 0 || cfg_.train.minibatches == 0) {
      td_loss_ = std::numeric_limits<double>::quiet_NaN();
      return td_loss_;
    }
    const bool poison = hooks_.fail_with_nan && comm_.rank() == hooks_.fail_rank &&
                        iteration_ + 1 == hooks_.fail_iteration;
    const double learning_rate = critic_learning_rate(cfg_.critic, iteration_, cfg_.train.iterations);
    for (auto& group : optimizer_.param_groups())
      static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learning_rate);
    if (engine_ == "native") return update_critic_native(poison);
    double loss_sum = 0;
    torch::Tensor td_sum;  // summed on the critic's device, read once after the loop (no extra sync)
    for (int64_t k = 0; k < cfg_.train.minibatches; ++k) {
      const torch::Tensor idx = replay_.sample_indices(cfg_.env.seed, static_cast<uint32_t>(iteration_),
                                                       static_cast<uint32_t>(k), cfg_.train.minibatch_size,
                                                       static_cast<uint32_t>(comm_.rank()));
      const torch::Tensor z = replay_.z.index_select(0, idx);
      torch::Tensor y;
      {
        torch::NoGradGuard no_grad;
        const torch::Tensor boot = target_->forward(replay_.z_boot.index_select(0, idx));
        y = replay_.partial.index_select(0, idx) +
            replay_.bootstrap.index_select(0, idx) * replay_.discount.index_select(0, idx) * boot;
      }
      torch::Tensor loss, td;
      if (cfg_.critic.hjb_weight > 0) {
        torch::Tensor zg = z.detach().clone();
        const Collocation extra = collocation_points(static_cast<uint32_t>(k));
        if (extra.interior.size(0) > 0) zg = torch::cat({zg, extra.interior.to(zg.device(), zg.scalar_type())});
        zg.requires_grad_(true);
        const torch::Tensor v = critic_->forward(zg);
        td = torch::mse_loss(v.narrow(0, 0, z.size(0)), y);
        loss = td + cfg_.critic.hjb_weight * hjb_residual(zg, v).pow(2).mean();
        if (extra.boundary.size(0) > 0)
          loss = loss + cfg_.critic.hjb_boundary_weight *
                            torch::mse_loss(critic_->forward(extra.boundary.to(z.device(), z.scalar_type())),
                                            extra.boundary_value.to(z.device(), z.scalar_type()));
      } else {
        loss = torch::mse_loss(critic_->forward(z), y);
        td = loss;
      }
      if (poison) loss = loss * std::numeric_limits<float>::quiet_NaN();
      optimizer_.zero_grad();
      loss.backward();
      const double local = loss.item<double>();
      check_loss(local, k, poison);
      loss_sum += (comm_.distributed() || has_nccl()) ? average_gradients(local) : local;
      const torch::Tensor td64 = td.detach().to(torch::kFloat64);
      td_sum = td_sum.defined() ? td_sum + td64 : td64;
      optimizer_.step();
      polyak_update(target_, critic_, cfg_.critic.polyak);
    }
    publish_target();
    td_loss_ = td_sum.item<double>() / static_cast<double>(cfg_.train.minibatches);
    return loss_sum / static_cast<double>(cfg_.train.minibatches);
  }

  // A rank whose loss is not finite stops the job before its gradient reaches the others.
  void check_loss(double local, int64_t minibatch, bool poison) const {
    if (!std::isfinite(local))
      throw std::runtime_error(std::string("the critic's loss is ") + (std::isnan(local) ? "NaN" : "infinite") +
                               " in iteration " + std::to_string(iteration_ + 1) + ", minibatch " +
                               std::to_string(minibatch + 1) + (poison ? " (injected by --inject-failure)" : ""));
  }

  // critic.engine = "native": the minibatches, targets, collocation draws and terms of the libtorch
  // engine (update_critic), the objective and its gradient from trainer/critic_gradient.hpp in
  // float. LibTorch keeps the parameters, AdamW's state and the target, so the gradient all-reduce,
  // the optimizer step, checkpoints and resume are shared with the libtorch engine.
  double update_critic_native(bool poison) {
    const int64_t inputs = shape_.inputs, size = cfg_.train.minibatch_size;
    const bool hjb = cfg_.critic.hjb_weight > 0;
    const float* replay_z = replay_.z.data_ptr<float>();
    const float* replay_boot = replay_.z_boot.data_ptr<float>();
    const float *partial = replay_.partial.data_ptr<float>(), *bootstrap = replay_.bootstrap.data_ptr<float>(),
                *discount = replay_.discount.data_ptr<float>();
    const size_t count = static_cast<size_t>(mlp_parameter_count(shape_));
    std::vector<float> params(count), target(count), grad(count);
    std::vector<float> z, z_boot(static_cast<size_t>(size * inputs)), boot(static_cast<size_t>(size)),
        y(static_cast<size_t>(size)), f, g, q;
    const std::vector<double> r64 = hjb_r_inverse();
    const std::vector<float> r_inverse(r64.begin(), r64.end());
    double loss_sum = 0, td_sum = 0;
    for (int64_t k = 0; k < cfg_.train.minibatches; ++k) {
      const torch::Tensor idx = replay_.sample_indices(cfg_.env.seed, static_cast<uint32_t>(iteration_),
                                                       static_cast<uint32_t>(k), size,
                                                       static_cast<uint32_t>(comm_.rank()));
      const int64_t* at = idx.data_ptr<int64_t>();
      z.resize(static_cast<size_t>(size * inputs));
      for (int64_t i = 0; i < size; ++i) {
        std::copy(replay_z + at[i] * inputs, replay_z + (at[i] + 1) * inputs, z.begin() + i * inputs);
        std::copy(replay_boot + at[i] * inputs, replay_boot + (at[i] + 1) * inputs, z_boot.begin() + i * inputs);
      }
      // y = r + b γ V̂⁻(z_boot), in the libtorch engine's order of operations.
      read_parameters(target_, target.data());
      critic_values(shape_, target.data(), z_boot.data(), size, boot.data());
      for (int64_t i = 0; i < size; ++i)
        y[static_cast<size_t>(i)] = partial[at[i]] + bootstrap[at[i]] * discount[at[i]] * boot[static_cast<size_t>(i)];

      CriticMinibatch<float> batch;
      batch.td_count = size;
      batch.td_target = y.data();
      Collocation extra;
      if (hjb) {
        extra = collocation_points(static_cast<uint32_t>(k));
        const float* interior = extra.interior.template data_ptr<float>();
        z.insert(z.end(), interior, interior + extra.interior.numel());
        const int64_t n = static_cast<int64_t>(z.size()) / inputs;
        f.resize(static_cast<size_t>(n * NX));
        g.resize(static_cast<size_t>(n * NX * NU));
        q.resize(static_cast<size_t>(n));
        hjb_model_terms(z.data(), n, inputs, f.data(), g.data(), q.data());
        batch.hjb_weight = static_cast<float>(cfg_.critic.hjb_weight);
        batch.nx = NX;
        batch.nu = NU;
        batch.drift = f.data();
        batch.input_map = g.data();
        batch.task_cost = q.data();
        batch.r_inverse = r_inverse.data();
        batch.quadratic = static_cast<float>(hjb_quadratic());
        batch.log_discount = static_cast<float>(std::log(cfg_.actor.discount));
        if (extra.boundary.size(0) > 0) {
          batch.boundary_weight = static_cast<float>(cfg_.critic.hjb_boundary_weight);
          batch.boundary_count = extra.boundary.size(0);
          batch.boundary_z = extra.boundary.template data_ptr<float>();
          batch.boundary_value = extra.boundary_value.template data_ptr<float>();
        }
      }
      batch.count = static_cast<int64_t>(z.size()) / inputs;
      batch.z = z.data();
      read_parameters(critic_, params.data());
      const CriticObjectiveValue value = critic_objective_gradient(shape_, params.data(), batch, grad.data(), &pool_);
      const double local = poison ? std::numeric_limits<double>::quiet_NaN() : value.loss;
      check_loss(local, k, poison);
      write_gradient(critic_, grad.data());
      loss_sum += comm_.distributed() ? average_gradients(local) : local;
      td_sum += value.td;
      optimizer_.step();
      polyak_update(target_, critic_, cfg_.critic.polyak);
    }
    publish_target();
    td_loss_ = td_sum / static_cast<double>(cfg_.train.minibatches);
    return loss_sum / static_cast<double>(cfg_.train.minibatches);
  }

  RunConfig cfg_;
  fs::path run_dir_;
  Comm& comm_;
  TrainHooks hooks_;
  MlpShape shape_;
  torch::Device device_;
  std::string engine_;  // critic.engine resolved for device_: libtorch | native
  System sys_{};
  ThreadPool pool_;
  ValueNet critic_, target_;
  torch::optim::AdamW optimizer_;
  ReplayBuffer replay_;
  BatchEnv<System> env_;
  Params value_params_, warmup_params_;
  BatchActor<System> actor_;
  std::vector<double> target_flat_;
  int64_t iteration_ = 0, env_steps_ = 0, episodes_ = 0;
  double td_loss_ = std::numeric_limits<double>::quiet_NaN();  // the last update phase's TD term (this process's)
#ifdef DMPC_WITH_CUDA
  // backend cuda: the episodes run on the GPU in float32 (cuda/device_rollout.hpp)
  using DeviceSystem = typename System::template Rebind<float>;
  using DeviceParams = ActorCostParams<float, NX, NU>;
  std::unique_ptr<cuda::DeviceRollout<DeviceSystem>> rollout_;
  DeviceParams device_value_params_{}, device_warmup_params_{};
  cuda::RolloutRecords<DeviceSystem> records_;
  std::vector<Episode<DeviceSystem>> final_episodes_;
#endif
#ifdef DMPC_WITH_NCCL
  std::unique_ptr<NcclAllReduce> nccl_;  // critic.allreduce on GPUs
#endif
};

// ---- metrics ---------------------------------------------------------------------------------------------

const char* kCsvHeader =
    "iteration,env_steps,episodes,critic_loss,train_success_rate,train_collision_rate,"
    "train_fall_rate,train_mean_cost,steps_per_second,wall_time,eval_success_rate,"
    "eval_collision_rate,eval_fall_rate,eval_mean_cost,eval_mean_time_to_goal";

// The evaluation fields of a metrics record, in JSON (", key: value" pairs) and CSV (5 columns).
void append_eval(std::ostream& j, std::ostream& c, const EvalSummary& ev) {
  j << ", \"eval_success_rate\": " << json_number(ev.success_rate)
    << ", \"eval_collision_rate\": " << json_number(ev.collision_rate)
    << ", \"eval_fall_rate\": " << json_number(ev.fall_rate)
    << ", \"eval_mean_cost\": " << json_number(ev.mean_cost)
    << ", \"eval_mean_time_to_goal\": " << json_number(ev.mean_time_to_goal);
  c << "," << json_number(ev.success_rate) << "," << json_number(ev.collision_rate) << ","
    << json_number(ev.fall_rate) << "," << json_number(ev.mean_cost) << ","
    << (std::isfinite(ev.mean_time_to_goal) ? json_number(ev.mean_time_to_goal) : "");
}

// A number field of one metrics.jsonl record (NaN when absent or null).
double json_field(const std::string& line, const char* key) {
  const std::string quoted = std::string("\"") + key + "\": ";
  const size_t p = line.find(quoted);
  if (p == std::string::npos || line.compare(p + quoted.size(), 4, "null") == 0)
    return std::numeric_limits<double>::quiet_NaN();
  return std::strtod(line.c_str() + p + quoted.size(), nullptr);
}

// Drops every record after `iteration` (lines whose first field is a larger iteration).
void truncate_metrics(const fs::path& path, int64_t iteration, bool csv) {
  if (!fs::exists(path)) return;
  std::istringstream in(read_text(path));
  std::string line, kept;
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    int64_t it = -1;
    if (csv) {
      if (line.rfind("iteration", 0) == 0) {
        kept += line + "\n";
        continue;
      }
      it = std::atoll(line.c_str());
    } else {
      const double field = json_field(line, "iteration");
      if (std::isfinite(field)) it = static_cast<int64_t>(field);
    }
    if (it <= iteration) kept += line + "\n";
  }
  write_atomic(path, kept);
}

// The run's best evaluation: the highest success rate, then the lowest mean cost, the earliest of
// equals. The untrained critic's (iteration 0) is not a candidate.
struct BestEval {
  int64_t iteration = -1;  // -1: none yet
  double wall_time = 0;
  EvalSummary eval;
  bool improved_by(const EvalSummary& e) const {
    return iteration < 0 || e.success_rate > eval.success_rate ||
           (e.success_rate == eval.success_rate && e.mean_cost < eval.mean_cost);
  }
};

// The best evaluation among the records of metrics.jsonl (what a resumed run has seen so far).
BestEval best_in_metrics(const fs::path& path) {
  BestEval best;
  if (!fs::exists(path)) return best;
  std::istringstream in(read_text(path));
  std::string line;
  while (std::getline(in, line)) {
    const double it = json_field(line, "iteration");
    const double success = json_field(line, "eval_success_rate");
    if (!(it >= 1) || !std::isfinite(success)) continue;
    EvalSummary e;
    e.success_rate = success;
    e.collision_rate = json_field(line, "eval_collision_rate");
    e.fall_rate = json_field(line, "eval_fall_rate");
    e.mean_cost = json_field(line, "eval_mean_cost");
    e.mean_time_to_goal = json_field(line, "eval_mean_time_to_goal");
    if (best.improved_by(e)) best = {static_cast<int64_t>(it), json_field(line, "wall_time"), e};
  }
  return best;
}

// checkpoints/best: a copy of the checkpoint just written for `iteration` (temporary name, then
// renamed over the previous best), so that `dmpc eval --checkpoint RUN/checkpoints/best` works.
void keep_as_best(const fs::path& run_dir, int64_t iteration) {
  const fs::path dir = run_dir / "checkpoints";
  char name[32];
  std::snprintf(name, sizeof name, "iter-%06lld", static_cast<long long>(iteration));
  const fs::path tmp = dir / ".tmp-best", best = dir / "best";
  fs::remove_all(tmp);
  fs::copy(dir / name, tmp, fs::copy_options::recursive);
  fs::remove_all(best);
  fs::rename(tmp, best);
}

std::string format_duration(double s) {
  char buf[32];
  if (s >= 3600) {
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s / 3600), int(std::fmod(s, 3600) / 60));
  } else {
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s / 60), int(std::fmod(s, 60)));
  }
  return buf;
}

template <typename System>
void run_training(const RunConfig& cfg, const fs::path& run_dir, bool resume, int64_t stop_after,
                  Comm& comm, const TrainHooks& hooks) {
  torch::set_num_threads(1);  // the critic is tiny; one thread keeps its arithmetic reproducible
  Trainer<System> trainer(cfg, run_dir, comm, hooks);
  const bool root = comm.rank() == 0;  // rank 0 evaluates, writes the metrics and prints
  double wall_offset = 0;
  if (resume) {
    wall_offset = trainer.load_checkpoint(resume_checkpoint(run_dir));
    if (root) {
      truncate_metrics(run_dir / "metrics.jsonl", trainer.iteration(), false);
      truncate_metrics(run_dir / "metrics.csv", trainer.iteration(), true);
      std::printf("resuming %s at iteration %lld\n", run_dir.string().c_str(),
                  static_cast<long long>(trainer.iteration()));
    }
  }
  BestEval best = root && resume ? best_in_metrics(run_dir / "metrics.jsonl") : BestEval{};
  if (root && comm.distributed())
    std::printf("data parallel: %d processes x %lld environments (%lld in all), minibatches of %d x %lld\n",
                comm.size(), static_cast<long long>(cfg.env.batch),
                static_cast<long long>(cfg.env.batch * comm.size()), comm.size(),
                static_cast<long long>(cfg.train.minibatch_size));
  if (root && !fs::exists(run_dir / "metrics.csv"))
    write_atomic(run_dir / "metrics.csv", std::string(kCsvHeader) + "\n");
  std::ofstream jsonl, csv;
  if (root) {
    jsonl.open(run_dir / "metrics.jsonl", std::ios::app);
    csv.open(run_dir / "metrics.csv", std::ios::app);
  }

  // The untrained critic's evaluation, as iteration 0 (the baseline every curve starts from).
  if (root && !resume) {
    const EvalSummary ev = trainer.evaluate_fixed();
    std::ostringstream j, c;
    j << "{\"iteration\": 0, \"env_steps\": 0, \"episodes\": 0, \"wall_time\": 0";
    c << "0,0,0,,,,,,,0";
    append_eval(j, c, ev);
    j << "}\n";
    c << "\n";
    jsonl << j.str() << std::flush;
    csv << c.str() << std::flush;
  }

  const bool tty = isatty(STDOUT_FILENO);
  g_interrupted = 0;
  std::signal(SIGINT, on_interrupt);
  std::signal(SIGTERM, on_interrupt);
  const auto start = std::chrono::steady_clock::now();
  auto last_log = start;
  const int64_t first = trainer.iteration();
  const int64_t total = cfg.train.iterations;
  EvalSummary last_eval;
  bool have_eval = false;
  double last_loss = 0;
  bool stopped_early = false;
  while (trainer.iteration() < total) {
    const auto t0 = std::chrono::steady_clock::now();
    IterationStats stats;
    double loss;
    trainer.step(stats, loss);
    last_loss = loss;
    const int64_t it = trainer.iteration();
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    const bool eval_now = it % cfg.train.eval_every == 0 || it == total;
    // Every process stops together: a signal that reached one of them stops them all.
    double interrupted = g_interrupted ? 1.0 : 0.0;
    comm.sum_to_all(&interrupted, 1);
    const bool stop_now = interrupted > 0 || (stop_after > 0 && it - first >= stop_after);
    if (!root) {
      if (it % cfg.train.checkpoint_every == 0 || it == total || stop_now) trainer.save_checkpoint(0);
      if (stop_now) break;
      continue;
    }
    EvalSummary ev;
    if (eval_now) {
      ev = trainer.evaluate_fixed();
      last_eval = ev;
      have_eval = true;
    }
    const double wall = wall_offset + std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double sps = static_cast<double>(stats.steps) / seconds;
    std::ostringstream j, c;
    j << "{\"iteration\": " << it << ", \"env_steps\": " << trainer.env_steps()
      << ", \"episodes\": " << trainer.episodes() << ", \"critic_loss\": " << json_number(loss)
      << ", \"critic_td_loss\": " << json_number(trainer.td_loss())
      << ", \"train_success_rate\": " << json_number(stats.success)
      << ", \"train_collision_rate\": " << json_number(stats.collision)
      << ", \"train_fall_rate\": " << json_number(stats.fall)
      << ", \"train_mean_cost\": " << json_number(stats.cost)
      << ", \"steps_per_second\": " << json_number(sps) << ", \"wall_time\": " << json_number(wall)
      << ", \"collect_seconds\": " << json_number(stats.collect_seconds)
      << ", \"update_seconds\": " << json_number(stats.update_seconds);
    c << it << "," << trainer.env_steps() << "," << trainer.episodes() << "," << json_number(loss)
      << "," << json_number(stats.success) << "," << json_number(stats.collision) << ","
      << json_number(stats.fall) << "," << json_number(stats.cost) << "," << json_number(sps) << ","
      << json_number(wall);
    if (eval_now) {
      append_eval(j, c, ev);
    } else {
      c << ",,,,,";
    }
    j << "}\n";
    c << "\n";
    jsonl << j.str() << std::flush;
    csv << c.str() << std::flush;

    const bool new_best = eval_now && best.improved_by(ev);
    if (new_best) best = {it, wall, ev};
    if (it % cfg.train.checkpoint_every == 0 || it == total || stop_now) {
      trainer.save_checkpoint(wall);
      if (new_best) keep_as_best(run_dir, it);
    } else if (new_best) {
      fs::remove_all(run_dir / "checkpoints" / "best");  // a best between checkpoints has no copy
    }

    // Progress.
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    const double eta = elapsed / static_cast<double>(it - first) * static_cast<double>(total - it);
    char line[256];
    std::snprintf(line, sizeof line,
                  "it %lld/%lld  %.3g steps/s  loss %.4g  train success %.0f%%  eval success %s  ETA %s",
                  static_cast<long long>(it), static_cast<long long>(total), sps, loss,
                  100 * stats.success,
                  have_eval ? (std::to_string(int(std::lround(100 * last_eval.success_rate))) + "%").c_str() : "-",
                  format_duration(eta).c_str());
    const auto now = std::chrono::steady_clock::now();
    if (tty) {
      std::printf("\r\033[K%s", line);
      std::fflush(stdout);
    } else if (eval_now || std::chrono::duration<double>(now - last_log).count() >= cfg.train.log_every_seconds) {
      std::printf("%s\n", line);
      std::fflush(stdout);
      last_log = now;
    }
    if (stop_now) {
      stopped_early = it < total;
      break;
    }
  }
  if (tty && root) std::printf("\n");
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
  if (!root) return;
  if (stopped_early) {
    std::printf("stopped at iteration %lld of %lld%s; continue with: dmpc train --out %s --resume\n",
                static_cast<long long>(trainer.iteration()), static_cast<long long>(total),
                g_interrupted ? " (interrupted)" : "", run_dir.string().c_str());
    return;
  }
  std::ostringstream fin;
  fin << "{\"iterations\": " << trainer.iteration() << ", \"env_steps\": " << trainer.env_steps()
      << ", \"eval_success_rate\": " << json_number(last_eval.success_rate)
      << ", \"eval_collision_rate\": " << json_number(last_eval.collision_rate)
      << ", \"eval_fall_rate\": " << json_number(last_eval.fall_rate)
      << ", \"eval_mean_cost\": " << json_number(last_eval.mean_cost);
  if (best.iteration > 0)
    fin << ", \"best_eval\": {\"iteration\": " << best.iteration
        << ", \"wall_time\": " << json_number(best.wall_time)
        << ", \"eval_success_rate\": " << json_number(best.eval.success_rate)
        << ", \"eval_collision_rate\": " << json_number(best.eval.collision_rate)
        << ", \"eval_mean_cost\": " << json_number(best.eval.mean_cost) << "}";
  fin << "}\n";
  write_atomic(run_dir / "FINISHED", fin.str());
  std::printf("\n  %-22s %s\n", "run", run_dir.string().c_str());
  std::printf("  %-22s %lld\n", "iterations", static_cast<long long>(trainer.iteration()));
  std::printf("  %-22s %lld\n", "environment steps", static_cast<long long>(trainer.env_steps()));
  std::printf("  %-22s %.4g\n", "last critic loss", last_loss);
  std::printf("  %-22s %s (%s engine)\n", "critic device", trainer.critic_device_name().c_str(), trainer.critic_engine().c_str());
  std::printf("  %-22s %s\n", "gradient all-reduce", trainer.gradient_exchange().c_str());
  std::printf("  %-22s %.1f%%\n", "eval success", 100 * last_eval.success_rate);
  std::printf("  %-22s %.1f%%\n", "eval collisions", 100 * last_eval.collision_rate);
  std::printf("  %-22s %.1f%%\n", "eval falls", 100 * last_eval.fall_rate);
  std::printf("  %-22s %.4g\n", "eval mean cost", last_eval.mean_cost);
  std::printf("  %-22s %s\n", "eval time to goal",
              std::isfinite(last_eval.mean_time_to_goal) ? (json_number(last_eval.mean_time_to_goal) + " s").c_str() : "-");
  if (best.iteration > 0)
    std::printf("  %-22s %.1f%% at iteration %lld (%s; collisions %.1f%%, cost %.4g)%s\n", "best eval success",
                100 * best.eval.success_rate, static_cast<long long>(best.iteration),
                format_duration(best.wall_time).c_str(), 100 * best.eval.collision_rate, best.eval.mean_cost,
                fs::exists(run_dir / "checkpoints" / "best") ? ", checkpoints/best" : "");
  std::printf("  wrote %s/{config.toml, metrics.jsonl, metrics.csv, checkpoints/, FINISHED}\n",
              run_dir.string().c_str());
}

}  // namespace

namespace {

// "RANK:ITERATION" or "RANK:ITERATION:nan" (test-only).
TrainHooks parse_hooks(const TrainRequest& request) {
  TrainHooks h;
  h.dump_dir = request.dump_parameters;
  if (request.inject_failure.empty()) return h;
  const std::string& t = request.inject_failure;
  const std::string bad = "--inject-failure " + t + ": expected RANK:ITERATION or RANK:ITERATION:nan";
  const size_t a = t.find(':');
  if (a == std::string::npos) throw std::runtime_error(bad);
  const size_t b = t.find(':', a + 1);
  try {
    size_t used = 0;
    h.fail_rank = std::stoi(t.substr(0, a), &used);
    if (used != a) throw std::runtime_error(bad);
    const std::string iteration = t.substr(a + 1, b == std::string::npos ? std::string::npos : b - a - 1);
    h.fail_iteration = std::stoll(iteration, &used);
    if (used != iteration.size()) throw std::runtime_error(bad);
  } catch (const std::logic_error&) {
    throw std::runtime_error(bad);
  }
  if (b != std::string::npos) {
    if (t.substr(b + 1) != "nan") throw std::runtime_error(bad);
    h.fail_with_nan = true;
  }
  if (h.fail_rank < 0 || h.fail_iteration < 1) throw std::runtime_error(bad);
  return h;
}

}  // namespace

void train(const TrainRequest& request) {
  Comm& comm = Comm::world();
  const TrainHooks hooks = parse_hooks(request);
  fs::path run_dir = request.out;
  ConfigReader reader = ConfigReader::from_string("", "<none>");
  if (request.resume) {
    if (run_dir.empty()) throw std::runtime_error("--resume needs --out <run directory>");
    // The one setting a resumed run may change is its length: train longer (or stop sooner).
    for (const std::string& s : request.overrides)
      if (s.substr(0, s.find('=')) != "train.iterations")
        throw std::runtime_error("--set " + s + ": a resumed run keeps its configuration (" +
                                 (run_dir / "config.toml").string() + "); only train.iterations can change");
    if (!request.backend.empty())
      throw std::runtime_error("--backend cannot change a run being resumed (it runs on the backend of " +
                               (run_dir / "config.toml").string() + ")");
    if (!fs::exists(run_dir / "config.toml"))
      throw std::runtime_error(run_dir.string() + ": not a run directory (no config.toml)");
    reader = ConfigReader::from_file((run_dir / "config.toml").string());
    // A run from before critic.engine existed was trained by autograd: it resumes so (the default,
    // auto, would take the native engine on the CPU and the run would no longer be the
    // uninterrupted one).
    if (!reader.has("critic.engine")) reader.set_override("critic.engine=libtorch");
    for (const std::string& s : request.overrides) reader.set_override(s);
  } else {
    reader = ConfigReader::from_file(request.config);
    for (const std::string& s : request.overrides) reader.set_override(s);
    if (!request.backend.empty()) reader.set_override("backend=" + request.backend);
    if (run_dir.empty()) run_dir = fs::path("runs") / fs::path(request.config).stem();
  }
  const RunConfig cfg = read_run_config(reader);
  episodes_on_gpu(cfg);  // an unusable backend is an error before anything is written
  // Rank 0 owns the run directory (on a file system every process sees); the others wait for it.
  if (comm.rank() == 0) {
    if (!request.resume) {
      if (fs::exists(run_dir / "checkpoints") || fs::exists(run_dir / "metrics.jsonl"))
        throw std::runtime_error(run_dir.string() +
                                 " already holds a run: continue it with --resume, or choose another --out");
      fs::create_directories(run_dir);
      write_atomic(run_dir / "config.toml", cfg.resolved);
    } else {
      if (!request.overrides.empty()) {
        const int64_t done = read_state_iteration(run_dir);
        if (cfg.train.iterations < done)
          throw std::runtime_error("--set train.iterations=" + std::to_string(cfg.train.iterations) + ": " +
                                   run_dir.string() + " is already at iteration " + std::to_string(done));
        write_atomic(run_dir / "config.toml", cfg.resolved);
      }
      fs::remove(run_dir / "FINISHED");
    }
  }
  comm.barrier();
  if (cfg.env.system == "ballbot") {
    run_training<Ballbot<double>>(cfg, run_dir, request.resume, request.stop_after, comm, hooks);
  } else {
    run_training<PointMass<double>>(cfg, run_dir, request.resume, request.stop_after, comm, hooks);
  }
}

// ---- dmpc eval ---------------------------------------------------------------------------------------------

namespace {

fs::path find_checkpoint(const fs::path& given) {
  if (!fs::exists(given)) throw std::runtime_error(given.string() + ": no such checkpoint");
  const auto follow = latest_checkpoint;
  fs::path dir = fs::is_directory(given) ? given : given.parent_path();
  if (!fs::is_directory(given) && given.filename() == "latest") dir = follow(given);
  if (fs::exists(dir / "checkpoints" / "latest")) dir = follow(dir / "checkpoints" / "latest");
  if (!fs::exists(dir / "state.toml"))
    throw std::runtime_error(given.string() + ": not a run or checkpoint directory (no state.toml)");
  return dir;
}

std::vector<std::array<double, 2>> read_starts(const std::string& path, const TaskParams<double>& task) {
  std::istringstream in(read_text(path));
  std::vector<std::array<double, 2>> starts;
  std::string line;
  int number = 0;
  while (std::getline(in, line)) {
    ++number;
    if (line.empty() || line[0] == '#') continue;
    double px, py;
    char comma, extra;
    std::istringstream ls(line);
    if (!(ls >> px >> comma >> py) || comma != ',' || (ls >> extra) || !std::isfinite(px) || !std::isfinite(py))
      throw std::runtime_error(path + ":" + std::to_string(number) + ": expected \"px,py\", got \"" + line + "\"");
    if (outside_arena(task, px, py))
      throw std::runtime_error(path + ":" + std::to_string(number) + ": start (" + json_number(px) + ", " +
                               json_number(py) + ") is outside the arena");
    if (hits_wall(task, px, py))
      throw std::runtime_error(path + ":" + std::to_string(number) + ": start (" + json_number(px) + ", " +
                               json_number(py) + ") touches a wall");
    starts.push_back({px, py});
  }
  if (starts.empty()) throw std::runtime_error(path + ": no starts");
  return starts;
}

// The target network of a checkpoint as the actor's flat buffer.
std::vector<double> load_target_weights(const RunConfig& cfg, const fs::path& ckpt) {
  torch::set_num_threads(1);
  ValueNet target(critic_shape(cfg));
  try {
    torch::load(target, (ckpt / "target.pt").string(), torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw std::runtime_error((ckpt / "target.pt").string() + ": cannot be loaded: " +
                             std::string(e.what_without_backtrace()));
  }
  return to_flat(target);
}

template <typename System>
void run_eval(const RunConfig& cfg, const fs::path& ckpt, const EvalRequest& r, bool on_gpu) {
  const MlpShape shape = critic_shape(cfg);
  const std::vector<double> weights = load_target_weights(cfg, ckpt);
  const std::vector<std::array<double, 2>> starts =
      r.starts_csv.empty() ? cfg.env.eval_starts : read_starts(r.starts_csv, cfg.env.task);
  const std::array<double, 2> goal = r.has_goal ? r.goal : cfg.env.eval_goal;
  const double noise = r.has_noise ? r.noise : cfg.env.eval_process_noise;
  ThreadPool pool(static_cast<size_t>(cfg.env.threads));
  const System sys{};
  const auto params = make_cost_params(sys, cfg.actor, cfg.env.input_weight, cfg.env.task.cost,
                                       cfg.env.task.binary_goal_radius);
  std::vector<EpisodeResult> results;
  if (on_gpu) {
#ifdef DMPC_WITH_CUDA
    results = run_fixed_starts_cuda(sys, cfg, weights, shape, starts, goal, noise, r.episodes);
#endif
  } else {
    results = run_fixed_starts(sys, cfg, params, weights, shape, starts, goal, noise, r.episodes, pool, true);
  }
  const EvalSummary s = summarize(results);

  std::printf("eval %s: %zu starts x %lld episode(s), goal (%g, %g), noise %g, on the %s\n",
              ckpt.string().c_str(), starts.size(), static_cast<long long>(r.episodes), goal[0],
              goal[1], noise, on_gpu ? "GPU (float32)" : "CPU (float64)");
  std::printf("  %8s %8s %4s %8s %-16s %9s %9s %8s\n", "px", "py", "ep", "success", "ended by",
              "cost", "V(s0)", "to goal");
  for (const EpisodeResult& e : results)
    std::printf("  %8.3f %8.3f %4lld %8s %-16s %9.4g %9.4g %8s\n", e.start_x, e.start_y,
                static_cast<long long>(e.episode), e.success ? "yes" : "no",
                end_reason_name(e.reason), e.cost, e.predicted_cost,
                e.reach_time >= 0 ? (json_number(e.reach_time) + " s").c_str() : "-");
  std::printf("  success %.1f%%, collisions %.1f%%, falls %.1f%%, mean cost %.4g, mean time to goal %s\n",
              100 * s.success_rate, 100 * s.collision_rate, 100 * s.fall_rate, s.mean_cost,
              std::isfinite(s.mean_time_to_goal) ? (json_number(s.mean_time_to_goal) + " s").c_str() : "-");
  if (r.out.empty()) return;
  std::ostringstream j;
  j << "{\"checkpoint\": \"" << ckpt.string() << "\", \"goal\": [" << json_number(goal[0]) << ", "
    << json_number(goal[1]) << "], \"noise\": " << json_number(noise) << ", \"backend\": \""
    << (on_gpu ? "cuda" : "cpu") << "\", \"summary\": {\"episodes\": "
    << s.episodes << ", \"success_rate\": " << json_number(s.success_rate)
    << ", \"collision_rate\": " << json_number(s.collision_rate)
    << ", \"fall_rate\": " << json_number(s.fall_rate) << ", \"mean_cost\": " << json_number(s.mean_cost)
    << ", \"mean_time_to_goal\": " << json_number(s.mean_time_to_goal) << "}, \"episodes\": [";
  for (size_t k = 0; k < results.size(); ++k) {
    const EpisodeResult& e = results[k];
    j << (k ? ", " : "") << "{\"start\": [" << json_number(e.start_x) << ", " << json_number(e.start_y)
      << "], \"episode\": " << e.episode << ", \"success\": " << (e.success ? "true" : "false")
      << ", \"reason\": \"" << end_reason_name(e.reason) << "\", \"cost\": " << json_number(e.cost)
      << ", \"predicted_cost\": " << json_number(e.predicted_cost)
      << ", \"time_to_goal\": " << (e.reach_time >= 0 ? json_number(e.reach_time) : "null") << ", \"px\": [";
    for (size_t t = 0; t < e.px.size(); ++t) j << (t ? ", " : "") << json_number(e.px[t]);
    j << "], \"py\": [";
    for (size_t t = 0; t < e.py.size(); ++t) j << (t ? ", " : "") << json_number(e.py[t]);
    j << "], \"states\": [";
    for (size_t t = 0; t < e.states.size(); ++t) {
      j << (t ? ", [" : "[");
      for (size_t c = 0; c < e.states[t].size(); ++c) j << (c ? ", " : "") << json_number(e.states[t][c]);
      j << "]";
    }
    j << "]}";
  }
  j << "]}\n";
  const fs::path out(r.out);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  write_atomic(out, j.str());
  std::printf("  wrote %s\n", r.out.c_str());
}

}  // namespace

void evaluate(const EvalRequest& request) {
  if (request.episodes < 1) throw std::runtime_error("--episodes: must be at least 1");
  bool on_gpu = false;
  try {
    on_gpu = use_cuda_backend(request.backend);
  } catch (const std::runtime_error& e) {
    throw std::runtime_error("--backend " + request.backend + ": " + e.what());
  }
  if (request.has_noise && !(request.noise >= 0 && std::isfinite(request.noise)))
    throw std::runtime_error("--noise: must be a finite number >= 0");
  const fs::path ckpt = find_checkpoint(request.checkpoint);
  verified_state(ckpt);  // checksums of every file
  ConfigReader reader = ConfigReader::from_file((ckpt / "config.toml").string());
  for (const std::string& o : request.overrides) {
    if (o.rfind("critic.", 0) == 0)
      throw std::runtime_error("--set " + o + ": the critic is the checkpoint's and cannot change");
    reader.set_override(o);
  }
  const RunConfig cfg = read_run_config(reader);
  if (cfg.env.system == "ballbot") {
    run_eval<Ballbot<double>>(cfg, ckpt, request, on_gpu);
  } else {
    run_eval<PointMass<double>>(cfg, ckpt, request, on_gpu);
  }
}

// ---- dmpc costmap --------------------------------------------------------------------------------------

namespace {

// V̂ and the DMPC running cost r of the paper's Eq. 14 (core/actor_costs.hpp, ActorCost::running in
// the running+terminal mode: −∂V̂/∂τ·(−1) − ∂ₓV̂·f + ½‖R^{-1/2}gᵀ∂ₓV̂‖², without the control and
// upright terms) on a grid of ball positions, the rest of the state held at `state`.
template <typename System>
void run_costmap(const RunConfig& cfg, const fs::path& ckpt, const CostmapRequest& r) {
  constexpr int NX = System::kStateDim;
  if (static_cast<int>(r.state.size()) != NX)
    throw std::runtime_error("--state: expected " + std::to_string(NX) + " numbers for " + cfg.env.system +
                             ", got " + std::to_string(r.state.size()));
  const MlpShape shape = critic_shape(cfg);
  const std::vector<double> weights = load_target_weights(cfg, ckpt);
  const System sys{};
  ActorSettings dmpc = cfg.actor;
  dmpc.mode = ActorCostMode::kRunningTerminal;
  const auto params = make_cost_params(sys, dmpc, cfg.env.input_weight, cfg.env.task.cost,
                                       cfg.env.task.binary_goal_radius);
  const std::array<double, 2> goal = r.has_goal ? r.goal : cfg.env.eval_goal;
  const MlpValue<double> value{shape, weights.data()};
  const ActorCost<System> cost(sys, &params, value, r.tau, goal[0], goal[1], cfg.actor.knots());
  std::ostringstream csv;
  csv << "px,py,value,running_cost\n";
  typename System::State x;
  for (int j = 0; j < NX; ++j) x[j] = r.state[static_cast<size_t>(j)];
  const int n = static_cast<int>(r.resolution);
  for (int a = 0; a < n; ++a)
    for (int b = 0; b < n; ++b) {
      const double px = r.px[0] + (r.px[1] - r.px[0]) * b / (n - 1);
      const double py = r.py[0] + (r.py[1] - r.py[0]) * a / (n - 1);
      x[0] = px;
      x[1] = py;
      double z[NX + 3];
      z[0] = r.tau;
      for (int j = 0; j < NX; ++j) z[1 + j] = x[j];
      z[NX + 1] = goal[0];
      z[NX + 2] = goal[1];
      typename System::State f = System::State::zero();
      typename System::InputMatrix g = System::InputMatrix::zero();
      const bool ok = sys.drift_and_input_map(x, f, g);
      csv << json_number(px) << "," << json_number(py) << "," << json_number(value_mlp<double>(shape, weights.data(), z))
          << "," << (ok ? json_number(cost.running(0, x, f, g)) : "nan") << "\n";
    }
  const fs::path out(r.out);
  if (out.has_parent_path()) fs::create_directories(out.parent_path());
  write_atomic(out, csv.str());
  std::printf("costmap %s: tau %g, goal (%g, %g), %lld x %lld points -> %s\n", ckpt.string().c_str(), r.tau,
              goal[0], goal[1], static_cast<long long>(n), static_cast<long long>(n), r.out.c_str());
}

}  // namespace

void costmap(const CostmapRequest& request) {
  if (request.resolution < 2 || request.resolution > 1000)
    throw std::runtime_error("--resolution: must be between 2 and 1000");
  if (!(request.tau >= 0 && std::isfinite(request.tau))) throw std::runtime_error("--tau: must be a finite number >= 0");
  for (double v : request.state)
    if (!std::isfinite(v)) throw std::runtime_error("--state: every number must be finite");
  if (!(request.px[0] < request.px[1]) || !(request.py[0] < request.py[1]))
    throw std::runtime_error("--px/--py: give lo,hi with lo < hi");
  if (request.out.empty()) throw std::runtime_error("--out: a CSV file to write is required");
  const fs::path ckpt = find_checkpoint(request.checkpoint);
  verified_state(ckpt);
  ConfigReader reader = ConfigReader::from_file((ckpt / "config.toml").string());
  const RunConfig cfg = read_run_config(reader);
  if (cfg.env.system == "ballbot") {
    run_costmap<Ballbot<double>>(cfg, ckpt, request);
  } else {
    run_costmap<PointMass<double>>(cfg, ckpt, request);
  }
}

// ---- dmpc bench train ----------------------------------------------------------------------------------------

namespace {

template <typename System>
BenchTrainFigures bench_rounds(const RunConfig& cfg, Comm& comm, int64_t rounds) {
  Trainer<System> trainer(cfg, fs::path(), comm);
  IterationStats warm;
  double loss;
  trainer.step(warm, loss);  // untimed: first allocations, the first replay contents
  comm.barrier();
  BenchTrainFigures f;
  double own_steps = 0;
  const auto t0 = std::chrono::steady_clock::now();
  for (int64_t r = 0; r < rounds; ++r) {
    IterationStats stats;
    trainer.step(stats, loss);
    // stats.steps is the job's (summed over processes); the knot-iterations are this process's.
    f.env_steps += static_cast<double>(stats.steps);
    own_steps += static_cast<double>(stats.own_steps);
    f.knot_iterations += static_cast<double>(stats.knot_iterations);
    f.update_seconds += stats.update_seconds;
    f.critic_updates += static_cast<double>(cfg.train.minibatches);
  }
  comm.barrier();
  f.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  f.own_env_steps = own_steps;
  return f;
}

template <typename System>
BenchTrainResult run_bench_train(const RunConfig& cfg, const BenchTrainRequest& r) {
  torch::set_num_threads(1);
  Comm& comm = Comm::world();
  BenchTrainResult out;
  out.world_size = comm.size();
  out.rank = comm.rank();
  out.threads = static_cast<int>(cfg.env.threads);
  const torch::Device device = critic_device(cfg.critic, comm.local_rank());
  out.critic_device = device.str();
  out.critic_engine = resolved_critic_engine(cfg.critic, device);
  out.backend = use_cuda_backend(cfg.backend) ? "cuda" : "cpu";
  if (out.backend == "cuda") out.actor_layout = cfg.actor.gpu_layout + "/" + std::to_string(cfg.actor.gpu_threads_per_block);
  if (r.baseline) {  // rank 0 alone, the others idle (sleeping, not spinning, in the barrier)
    if (comm.rank() == 0) {
      out.baseline = bench_rounds<System>(cfg, Comm::self(), r.rounds);
      out.has_baseline = true;
    }
    comm.idle_barrier();
  }
  BenchTrainFigures job = bench_rounds<System>(cfg, comm, r.rounds);
  out.own = job;
  out.own.env_steps = job.own_env_steps;
  double knots = job.knot_iterations;
  comm.sum_to_all(&knots, 1);
  out.aggregate = job;
  out.aggregate.knot_iterations = knots;
  return out;
}

}  // namespace

BenchTrainResult bench_train(const BenchTrainRequest& r) {
  ConfigReader reader = r.config.empty() ? ConfigReader::from_string(paper_settings_toml(), "<paper settings>")
                                         : ConfigReader::from_file(r.config);
  for (const std::string& o : r.overrides) reader.set_override(o);
  reader.set_override("env.system=\"" + r.env + "\"");
  RunConfig cfg = read_run_config(reader);
  cfg.backend = r.backend;
  cfg.env.batch = r.batch;
  cfg.env.threads = r.threads;
  cfg.actor.horizon = cfg.actor.knot_dt * static_cast<double>(r.knots);
  cfg.actor.solver.max_iterations = static_cast<int32_t>(r.iters);
  cfg.train.minibatches = r.minibatches;
  cfg.train.warmup_iterations = 0;
  if (cfg.env.system == "ballbot") return run_bench_train<Ballbot<double>>(cfg, r);
  return run_bench_train<PointMass<double>>(cfg, r);
}

}  // namespace dmpc
