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
#include "trainer/td_targets.hpp"
#include "trainer/train_config.hpp"

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

// FNV-1a (64-bit) of a file's bytes, as 16 hex digits.
std::string file_checksum(const fs::path& path) {
  const std::string bytes = read_text(path);
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 0x100000001b3ull;
  }
  char buf[17];
  std::snprintf(buf, sizeof buf, "%016llx", static_cast<unsigned long long>(h));
  return buf;
}

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

// The device of `critic.device`: auto picks CUDA when LibTorch sees a GPU.
torch::Device critic_device(const std::string& setting) {
  const bool cuda = torch::cuda::is_available();
  if (setting == "cuda" && !cuda)
    throw std::runtime_error("critic.device = \"cuda\" but LibTorch sees no CUDA device");
  return (setting == "cuda" || (setting == "auto" && cuda)) ? torch::Device(torch::kCUDA)
                                                             : torch::Device(torch::kCPU);
}

ValueNet make_value_net(MlpShape shape, torch::Device device) {
  ValueNet net(shape);
  net->to(device);
  return net;
}

MlpShape critic_shape(const RunConfig& c) {
  return {state_dim(c.env.system) + 3, c.critic.width, c.critic.depth};
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
    if (n > capacity) {  // only the newest `capacity` survive
      skip = n - capacity;
      n = capacity;
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

  torch::Tensor sample_indices(uint64_t seed, uint32_t iteration, uint32_t minibatch,
                               int64_t count) const {
    torch::Tensor idx = torch::empty({count}, torch::kInt64);
    auto acc = idx.accessor<int64_t, 1>();
    for (int64_t j = 0; j < count; j += 4) {
      const PhiloxCounter bits = philox4x32_10(
          philox_counter(iteration, minibatch, static_cast<uint32_t>(j / 4), 0, RandomStream::kReplay),
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
  const uint64_t eval_seed = cfg.env.seed ^ 0x5EED0E7A1ull;  // apart from the training streams
  BatchEnv<System> env(sys, cfg.env.task, make_noise_model<NU>(noise, cfg.env.input_weight),
                       eval_seed, batch, pool);
  BatchActor<System> actor(sys, cfg.actor, params, cfg.env.task.input_limit, batch, pool);
  actor.set_value({shape, weights.data()});
  const int shift = std::max(1, static_cast<int>(std::lround(cfg.env.task.control_period / cfg.actor.knot_dt)));
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
      {
        double z[System::kStateDim + 3];
        z[0] = cfg.env.task.duration;
        for (int j = 0; j < System::kStateDim; ++j) z[1 + j] = env.episode(i).x[j];
        z[System::kStateDim + 1] = goal[0];
        z[System::kStateDim + 2] = goal[1];
        ep[i].predicted_cost = value_mlp<double>(shape, weights.data(), z);
      }
      ep[i].start_x = starts[i][0];
      ep[i].start_y = starts[i][1];
      ep[i].episode = e;
      if (record) {
        ep[i].px.push_back(sys.position_x(env.episode(i).x));
        ep[i].py.push_back(sys.position_y(env.episode(i).x));
      }
    }
    while (!env.all_done()) {
      control_step(env, actor, cfg.env.task, shift, goals, x, tau, u, active);
      if (record)
        for (size_t i = 0; i < batch; ++i)
          if (active[i]) {
            ep[i].px.push_back(sys.position_x(env.episode(i).x));
            ep[i].py.push_back(sys.position_y(env.episode(i).x));
          }
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

// state.toml of a checkpoint directory, after checking every file against its checksum.
toml::table verified_state(const fs::path& dir) {
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
  if (state["world_size"].value_or<int64_t>(1) != 1)
    throw std::runtime_error(dir.string() + ": written by a run on " +
                             std::to_string(state["world_size"].value_or<int64_t>(1)) +
                             " processes; resume it on the same number");
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


// ---- the trainer --------------------------------------------------------------------------------------

struct IterationStats {
  int64_t steps = 0, episodes = 0;
  double success = 0, collision = 0, fall = 0, cost = 0;
};

template <typename System>
class Trainer {
 public:
  static constexpr int NX = System::kStateDim, NU = System::kInputDim;
  using Params = ActorCostParams<double, NX, NU>;

  Trainer(const RunConfig& cfg, const fs::path& run_dir)
      : cfg_(cfg), run_dir_(run_dir), shape_(critic_shape(cfg)),
        device_(critic_device(cfg.critic.device)), pool_(static_cast<size_t>(cfg.env.threads)),
        critic_(make_value_net(shape_, device_)), target_(make_value_net(shape_, device_)),
        optimizer_(critic_->parameters(), torch::optim::AdamWOptions(cfg.critic.learning_rate)
                                              .weight_decay(cfg.critic.weight_decay)),
        replay_(cfg.train.replay_capacity, shape_.inputs, device_),
        env_(sys_, cfg.env.task, make_noise_model<NU>(cfg.env.process_noise, cfg.env.input_weight),
             cfg.env.seed, static_cast<size_t>(cfg.env.batch), pool_),
        value_params_(make_cost_params(sys_, cfg.actor, cfg.env.input_weight, cfg.env.task.cost,
                                       cfg.env.task.binary_goal_radius)),
        actor_(sys_, cfg.actor, value_params_, cfg.env.task.input_limit,
               static_cast<size_t>(cfg.env.batch), pool_) {
    ActorSettings warm = cfg.actor;
    warm.mode = ActorCostMode::kQuadratic;
    warmup_params_ = make_cost_params(sys_, warm, cfg.env.input_weight, cfg.env.task.cost,
                                      cfg.env.task.binary_goal_radius);
    // Deterministic initialisation from the seed; the target starts equal to the critic.
    load_flat(critic_, random_value_network(shape_, cfg.env.seed, cfg.critic.init_output_scale,
                                            cfg.critic.input_offset,
                                            cfg.critic.input_scale)
                           .params);
    load_flat(target_, to_flat(critic_));
    publish_target();
  }

  int64_t iteration() const { return iteration_; }

  // One learning iteration: collect B episodes, update the critic, publish the target.
  void step(IterationStats& stats, double& loss) {
    const bool warmup = iteration_ < cfg_.train.warmup_iterations;
    actor_.set_params(warmup ? warmup_params_ : value_params_);
    collect(stats);
    loss = update_critic();
    ++iteration_;
    env_steps_ += stats.steps;
    episodes_ += stats.episodes;
  }

  EvalSummary evaluate_fixed() {
    const auto results = run_fixed_starts(sys_, cfg_, value_params_, target_flat_, shape_,
                                          cfg_.env.eval_starts, cfg_.env.eval_goal,
                                          cfg_.env.eval_process_noise, 1, pool_, false);
    return summarize(results);
  }

  void save_checkpoint(double wall_seconds) {
    const fs::path dir = run_dir_ / "checkpoints";
    fs::create_directories(dir);
    char name[32];
    std::snprintf(name, sizeof name, "iter-%06lld", static_cast<long long>(iteration_));
    const fs::path tmp = dir / (std::string(".tmp-") + name), final_dir = dir / name;
    fs::remove_all(tmp);
    fs::create_directories(tmp);
    torch::save(critic_, (tmp / "critic.pt").string());
    torch::save(target_, (tmp / "target.pt").string());
    torch::save(optimizer_, (tmp / "optimizer.pt").string());
    replay_.save(tmp / "replay.pt");
    write_atomic(tmp / "config.toml", cfg_.resolved);
    toml::table state{{"format", 1},
                      {"iteration", iteration_},
                      {"env_steps", env_steps_},
                      {"episodes", episodes_},
                      {"wall_seconds", wall_seconds},
                      {"system", cfg_.env.system},
                      {"world_size", 1}};
    toml::table sums;
    for (const char* f : {"critic.pt", "target.pt", "optimizer.pt", "replay.pt", "config.toml"})
      sums.insert(f, file_checksum(tmp / f));
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

  // Loads a checkpoint directory (verified); returns its wall time.
  double load_checkpoint(const fs::path& dir) {
    const toml::table state = verified_state(dir);
    try {
      torch::load(critic_, (dir / "critic.pt").string(), device_);
      torch::load(target_, (dir / "target.pt").string(), device_);
      torch::load(optimizer_, (dir / "optimizer.pt").string(), device_);
      replay_.load(dir / "replay.pt");
    } catch (const c10::Error& e) {
      throw std::runtime_error(dir.string() + ": checkpoint cannot be loaded: " +
                               std::string(e.what_without_backtrace()));
    }
    iteration_ = state["iteration"].value_or<int64_t>(0);
    env_steps_ = state["env_steps"].value_or<int64_t>(0);
    episodes_ = state["episodes"].value_or<int64_t>(0);
    publish_target();
    return state["wall_seconds"].value_or(0.0);
  }

  const std::vector<double>& target_flat() const { return target_flat_; }
  int64_t env_steps() const { return env_steps_; }
  int64_t episodes() const { return episodes_; }

 private:
  void publish_target() {
    target_flat_ = to_flat(target_);
    actor_.set_value({shape_, target_flat_.data()});
  }

  void collect(IterationStats& stats) {
    const size_t batch = env_.size();
    const TaskParams<double>& task = cfg_.env.task;
    env_.reset(static_cast<uint32_t>(iteration_));
    for (size_t i = 0; i < batch; ++i) actor_.reset(i);
    const int shift = std::max(1, static_cast<int>(std::lround(task.control_period / cfg_.actor.knot_dt)));
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
      const Episode<System>& s = env_.episode(i);
      stats.success += env_.succeeded(i);
      stats.collision += is_collision(s.reason);
      stats.fall += s.reason == EndReason::kFall;
      stats.cost += s.total_cost;
      ++stats.episodes;
    }
    replay_.add(zs, ps, bs, ds, zbs);
    const double n = static_cast<double>(stats.episodes);
    stats.success /= n;
    stats.collision /= n;
    stats.fall /= n;
    stats.cost /= n;
  }

  double update_critic() {
    if (replay_.size == 0 || cfg_.train.minibatches == 0) return std::numeric_limits<double>::quiet_NaN();
    double loss_sum = 0;
    for (int64_t k = 0; k < cfg_.train.minibatches; ++k) {
      const torch::Tensor idx = replay_.sample_indices(cfg_.env.seed, static_cast<uint32_t>(iteration_),
                                                       static_cast<uint32_t>(k), cfg_.train.minibatch_size);
      const torch::Tensor z = replay_.z.index_select(0, idx);
      torch::Tensor y;
      {
        torch::NoGradGuard no_grad;
        const torch::Tensor boot = target_->forward(replay_.z_boot.index_select(0, idx));
        y = replay_.partial.index_select(0, idx) +
            replay_.bootstrap.index_select(0, idx) * replay_.discount.index_select(0, idx) * boot;
      }
      const torch::Tensor loss = torch::mse_loss(critic_->forward(z), y);
      optimizer_.zero_grad();
      loss.backward();
      optimizer_.step();
      polyak_update(target_, critic_, cfg_.critic.polyak);
      loss_sum += loss.item<double>();
    }
    publish_target();
    return loss_sum / static_cast<double>(cfg_.train.minibatches);
  }

  RunConfig cfg_;
  fs::path run_dir_;
  MlpShape shape_;
  torch::Device device_;
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
      const size_t p = line.find("\"iteration\": ");
      if (p != std::string::npos) it = std::atoll(line.c_str() + p + 13);
    }
    if (it <= iteration) kept += line + "\n";
  }
  write_atomic(path, kept);
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
void run_training(const RunConfig& cfg, const fs::path& run_dir, bool resume, int64_t stop_after) {
  torch::set_num_threads(1);  // the critic is tiny; one thread keeps its arithmetic reproducible
  Trainer<System> trainer(cfg, run_dir);
  double wall_offset = 0;
  if (resume) {
    const fs::path latest = run_dir / "checkpoints" / "latest";
    if (!fs::exists(latest))
      throw std::runtime_error(run_dir.string() + ": no checkpoint to resume from");
    wall_offset = trainer.load_checkpoint(latest_checkpoint(latest));
    truncate_metrics(run_dir / "metrics.jsonl", trainer.iteration(), false);
    truncate_metrics(run_dir / "metrics.csv", trainer.iteration(), true);
    std::printf("resuming %s at iteration %lld\n", run_dir.string().c_str(),
                static_cast<long long>(trainer.iteration()));
  }
  if (!fs::exists(run_dir / "metrics.csv")) write_atomic(run_dir / "metrics.csv", std::string(kCsvHeader) + "\n");
  std::ofstream jsonl(run_dir / "metrics.jsonl", std::ios::app);
  std::ofstream csv(run_dir / "metrics.csv", std::ios::app);

  // The untrained critic's evaluation, as iteration 0 (the baseline every curve starts from).
  if (!resume) {
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
      << ", \"train_success_rate\": " << json_number(stats.success)
      << ", \"train_collision_rate\": " << json_number(stats.collision)
      << ", \"train_fall_rate\": " << json_number(stats.fall)
      << ", \"train_mean_cost\": " << json_number(stats.cost)
      << ", \"steps_per_second\": " << json_number(sps) << ", \"wall_time\": " << json_number(wall);
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

    const bool stop_now = g_interrupted || (stop_after > 0 && it - first >= stop_after);
    if (it % cfg.train.checkpoint_every == 0 || it == total || stop_now) trainer.save_checkpoint(wall);

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
  if (tty) std::printf("\n");
  std::signal(SIGINT, SIG_DFL);
  std::signal(SIGTERM, SIG_DFL);
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
      << ", \"eval_mean_cost\": " << json_number(last_eval.mean_cost) << "}\n";
  write_atomic(run_dir / "FINISHED", fin.str());
  std::printf("\n  %-22s %s\n", "run", run_dir.string().c_str());
  std::printf("  %-22s %lld\n", "iterations", static_cast<long long>(trainer.iteration()));
  std::printf("  %-22s %lld\n", "environment steps", static_cast<long long>(trainer.env_steps()));
  std::printf("  %-22s %.4g\n", "last critic loss", last_loss);
  std::printf("  %-22s %.1f%%\n", "eval success", 100 * last_eval.success_rate);
  std::printf("  %-22s %.1f%%\n", "eval collisions", 100 * last_eval.collision_rate);
  std::printf("  %-22s %.1f%%\n", "eval falls", 100 * last_eval.fall_rate);
  std::printf("  %-22s %.4g\n", "eval mean cost", last_eval.mean_cost);
  std::printf("  %-22s %s\n", "eval time to goal",
              std::isfinite(last_eval.mean_time_to_goal) ? (json_number(last_eval.mean_time_to_goal) + " s").c_str() : "-");
  std::printf("  wrote %s/{config.toml, metrics.jsonl, metrics.csv, checkpoints/, FINISHED}\n",
              run_dir.string().c_str());
}

}  // namespace

void train(const TrainRequest& request) {
  fs::path run_dir = request.out;
  ConfigReader reader = ConfigReader::from_string("", "<none>");
  if (request.resume) {
    if (run_dir.empty()) throw std::runtime_error("--resume needs --out <run directory>");
    if (!request.overrides.empty())
      throw std::runtime_error("--set cannot change a run being resumed (its configuration is " +
                               (run_dir / "config.toml").string() + ")");
    if (!fs::exists(run_dir / "config.toml"))
      throw std::runtime_error(run_dir.string() + ": not a run directory (no config.toml)");
    reader = ConfigReader::from_file((run_dir / "config.toml").string());
  } else {
    reader = ConfigReader::from_file(request.config);
    for (const std::string& s : request.overrides) reader.set_override(s);
    if (run_dir.empty()) run_dir = fs::path("runs") / fs::path(request.config).stem();
  }
  const RunConfig cfg = read_run_config(reader);
  if (!request.resume) {
    if (fs::exists(run_dir / "checkpoints") || fs::exists(run_dir / "metrics.jsonl"))
      throw std::runtime_error(run_dir.string() +
                               " already holds a run: continue it with --resume, or choose another --out");
    fs::create_directories(run_dir);
    write_atomic(run_dir / "config.toml", cfg.resolved);
  } else {
    fs::remove(run_dir / "FINISHED");
  }
  if (cfg.env.system == "ballbot") {
    run_training<Ballbot<double>>(cfg, run_dir, request.resume, request.stop_after);
  } else {
    run_training<PointMass<double>>(cfg, run_dir, request.resume, request.stop_after);
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

template <typename System>
void run_eval(const RunConfig& cfg, const fs::path& ckpt, const EvalRequest& r) {
  torch::set_num_threads(1);
  const MlpShape shape = critic_shape(cfg);
  ValueNet target(shape);
  try {
    torch::load(target, (ckpt / "target.pt").string(), torch::Device(torch::kCPU));
  } catch (const c10::Error& e) {
    throw std::runtime_error((ckpt / "target.pt").string() + ": cannot be loaded: " +
                             std::string(e.what_without_backtrace()));
  }
  const std::vector<double> weights = to_flat(target);
  const std::vector<std::array<double, 2>> starts =
      r.starts_csv.empty() ? cfg.env.eval_starts : read_starts(r.starts_csv, cfg.env.task);
  const std::array<double, 2> goal = r.has_goal ? r.goal : cfg.env.eval_goal;
  const double noise = r.has_noise ? r.noise : cfg.env.eval_process_noise;
  ThreadPool pool(static_cast<size_t>(cfg.env.threads));
  const System sys{};
  const auto params = make_cost_params(sys, cfg.actor, cfg.env.input_weight, cfg.env.task.cost,
                                       cfg.env.task.binary_goal_radius);
  const auto results = run_fixed_starts(sys, cfg, params, weights, shape, starts, goal, noise,
                                        r.episodes, pool, true);
  const EvalSummary s = summarize(results);

  std::printf("eval %s: %zu starts x %lld episode(s), goal (%g, %g), noise %g\n",
              ckpt.string().c_str(), starts.size(), static_cast<long long>(r.episodes), goal[0],
              goal[1], noise);
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
    << json_number(goal[1]) << "], \"noise\": " << json_number(noise) << ", \"summary\": {\"episodes\": "
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
    run_eval<Ballbot<double>>(cfg, ckpt, request);
  } else {
    run_eval<PointMass<double>>(cfg, ckpt, request);
  }
}

}  // namespace dmpc
