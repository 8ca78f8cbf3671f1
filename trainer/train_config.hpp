// The [critic] and [train] sections of a configuration (configs/default.toml documents every key).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/actor_config.hpp"
#include "core/config_reader.hpp"
#include "envs/task/task_config.hpp"

namespace dmpc {

struct CriticSettings {
  int32_t width = 24;            // 3 × 24 tanh (the paper: 3 × 12, configs/paper.toml; README "Training")
  int32_t depth = 3;
  double learning_rate = 1e-3;   // AdamW
  // The learning rate over the run (critic_learning_rate): "constant", or "cosine" from
  // learning_rate in the first iteration's updates down to learning_rate_final_ratio × it in the
  // last (the critic settles as the actor does; a function of the iteration, so resume repeats it).
  std::string learning_rate_schedule = "constant";
  double learning_rate_final_ratio = 0.1;
  double weight_decay = 1e-4;
  double polyak = 0.01;          // ρ in θ⁻ ← (1 − ρ) θ⁻ + ρ θ, after every update
  int32_t n_step = 10;           // 1 is the paper's one-step target
  double init_output_scale = 0;  // output-layer weights at initialisation (0: V̂ starts flat,
                                 // so the untrained actor does not chase a random gradient)
  bool control_cost = false;      // add ½ uᵀRu·δt to every transition's cost (the paper's Eq. 4)
  // Append to the critic's input, per wall segment of the task, the ball's clearance from the
  // wall's collision zone, φ_j(p) (core/value_mlp.hpp; normalised with offset 0.5, scale 0.5 m):
  // the "local map" the paper names as future work, in its simplest form. The actor differentiates
  // through it; it learns nothing by itself (V̂'s dependence on it is learned from the data).
  bool wall_features = true;
  // Path-length features (core/value_mlp.hpp): for each look-ahead time κ here, the length of the
  // shortest way from p + κ v to the goal round the task's walls (past their ends with `path_margin`
  // to spare), normalised with offset 1.5, scale 1 m. Empty: none. They need wall_features. What
  // the clearance cannot say — which way round is short, and that moving along it is worth
  // something — becomes one input, instead of a ridge and a direction field the network must build.
  std::vector<double> path_lookahead = {0.0, 0.5};
  double path_margin = 0.2;  // [m]
  // Ballbot: > 0 makes the look-ahead point follow the body's lean, p + κ v + h Rz(yaw) ((pitch,
  // −roll) + κ (their rates)) with this h [m/rad] (core/value_mlp.hpp, path_body): V̂ then varies
  // with the lean the way the ball's future position does, and the actor's greedy input leans the
  // body into the way round instead of pushing the ball against it. 0: p + κ v. Default (set by
  // read_critic_settings): 1 for the Ballbot with path features, 0 otherwise (no body to lean).
  double path_body_gain = 0.0;
  // Weight w of the HJB residual in the critic's loss (0: TD only, as the paper). With it every
  // minibatch also fits the actor's running cost (Eq. 14) to the task's:
  //   loss = mean (y − V̂)² + w · mean (l̂(τ, s, g) − q(s, g))²,
  //   l̂ = ∂_τV̂ − fᵀ∂ₓV̂ + ½ ∂ₓV̂ᵀ g R⁻¹ gᵀ ∂ₓV̂ − ln(γ) V̂   (the HJB equation of the control-
  // affine model ẋ = f + g u, which V* satisfies with l̂ = q), so V̂'s gradient — what the DMPC actor
  // follows — is shaped where the data lie, not only its values.
  double hjb_weight = 1.0;
  // Which equation: "eq14" (the ½ above: V*'s HJB, exact when V̂ values the control cost too) or
  // "greedy_policy" (1 instead of ½: ∂_τV̂ = q + ∂ₓV̂ᵀ(f + g u) for the greedy input
  // u = −R⁻¹gᵀ∂ₓV̂, the equation a V̂ of the task's cost only satisfies; critic.control_cost = false).
  std::string hjb_form = "eq14";
  // Collocation points for that term, per minibatch, as a multiple of the minibatch size: inputs
  // drawn uniformly from the normalisation box offset ± scale (all τ, positions, tilts, rates and
  // goals the critic is scaled for), those in a wall's collision zone or outside the arena left
  // out. The residual needs no transition, so it can be asked anywhere; the replay's states alone
  // admit "stand still" values (V̂ = τ q at rest satisfies it there).
  double hjb_collocation = 1.0;
  // Weight of the boundary conditions that make the HJB term a well-posed problem, at the
  // collocation draws: V̂ = penalty at the draws that fall in a wall's collision zone (entering it
  // ends the episode with the penalty), and V̂(τ = 0) = q_f at the free ones (the time is up).
  // This uses the task's termination set and terminal cost, as the HJB term uses its running cost;
  // the actor's model still knows no walls. 0: off.
  double hjb_boundary_weight = 0.0;
  // How the critic's minibatch objective and gradient are computed: "libtorch" (autograd),
  // "native" (trainer/critic_gradient.hpp: the same terms as a few matrix products, CPU only,
  // several times faster for critics of this size; with it device = "auto" means the CPU), or
  // "auto": native when the critic lives on the CPU, libtorch when it lives on a GPU (see
  // resolved_critic_engine in dmpc_trainer.cpp). Both keep the parameters, AdamW and the target
  // in the same LibTorch modules, so checkpoints and resume are the same either way.
  std::string engine = "auto";
  std::string device = "auto";   // where the critic and the replay buffer live: cpu | cuda | auto
  std::string allreduce = "auto";  // several processes: mpi (host, double, rank order) | nccl (GPU) |
                                   // auto (nccl when the critic is on a GPU and the build has NCCL)
  std::vector<double> input_offset;  // z̃ = (z − offset) / scale for z = [τ, s, g]
  std::vector<double> input_scale;
};

struct TrainSettings {
  int64_t iterations = 600;       // learning iterations (each: B episodes, then K updates)
  int64_t minibatches = 250;      // K
  int64_t minibatch_size = 256;   // N
  int64_t replay_capacity = 200000;
  int64_t warmup_iterations = 0;  // iterations whose actor uses the quadratic cost (no critic)
  int64_t eval_every = 10;        // E
  int64_t checkpoint_every = 10;
  int64_t keep_checkpoints = 2;
  double log_every_seconds = 10;  // plain progress lines when the output is not a terminal
};

// Default normalisation for a system's critic inputs [τ, s, g] (documented in default.toml).
void default_critic_normalisation(const std::string& system, std::vector<double>& offset,
                                  std::vector<double>& scale);

CriticSettings read_critic_settings(ConfigReader& reader, const std::string& system);
TrainSettings read_train_settings(ConfigReader& reader);

// A whole configuration: every section, validated (unknown keys rejected), and its resolved TOML.
struct RunConfig {
  std::string backend = "auto";  // where environments and actors run: cpu | cuda | auto (GPU if present)
  EnvConfig env;
  ActorSettings actor;
  CriticSettings critic;
  TrainSettings train;
  std::string resolved;
};

// The paper's settings where today's defaults differ: the keys of configs/paper.toml (a test keeps
// the two equal). The benchmarks' built-in configuration, so that their figures stay those of the
// paper's problem (CUDA part 2's targets name the paper's 3 × 12 critic), and the settings the GPU
// agreement checks were sized for.
const char* paper_settings_toml();

RunConfig read_run_config(ConfigReader& reader);

// The critic's learning rate during the updates of iteration `iteration` (0-based) of `iterations`:
//   constant: α
//   cosine:   α (r + (1 − r) ½ (1 + cos(π i / (I − 1))))   (α at i = 0, r α at i = I − 1; α when I = 1)
// with α = learning_rate, r = learning_rate_final_ratio; past the end it stays at r α.
double critic_learning_rate(const CriticSettings& critic, int64_t iteration, int64_t iterations);

}  // namespace dmpc
