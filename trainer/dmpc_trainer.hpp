// `dmpc train` and `dmpc eval`: the DMPC loop (paper Algorithm 1) with its run directory.
// No LibTorch types here: the command line includes this header.
#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

namespace dmpc {

struct TrainRequest {
  std::string config = "configs/default.toml";
  std::vector<std::string> overrides;  // --set key=value
  std::string backend;                 // --backend cpu|cuda|auto (empty: the configuration's)
  std::string out;                     // run directory (default runs/<config name>)
  bool resume = false;
  int64_t stop_after = 0;  // stop (resumably) after this many iterations of this call; 0 = no
  // Test-only: "RANK:ITERATION[:nan]" makes that process fail in that iteration (an exception, or
  // a NaN critic loss), to test that a failing process stops the whole job.
  std::string inject_failure;
  // Test-only: after every iteration each process writes its critic and target parameters
  // (float32, module order) to <dir>/rank-R.bin.
  std::string dump_parameters;
};

// Runs or resumes training; throws with a message naming what is wrong.
void train(const TrainRequest& request);

struct EvalRequest {
  std::string checkpoint;  // a run directory, a checkpoint directory, or a file inside one
  std::string starts_csv;  // px,py per line; empty = the configuration's evaluation starts
  bool has_goal = false;
  std::array<double, 2> goal{};
  int64_t episodes = 1;    // per start
  bool has_noise = false;
  double noise = 0.0;
  std::string out;         // JSON file (optional)
  std::vector<std::string> overrides;  // --set on the checkpoint's configuration (e.g. the actor's)
  std::string backend = "cpu";         // cpu (float64, as training evaluates) | cuda | auto
};

void evaluate(const EvalRequest& request);

// `dmpc costmap`: V̂ and the DMPC running cost (the paper's Eq. 14) of a checkpoint's target
// network over a grid of ball positions, the rest of the state fixed; written as CSV
// (px,py,value,running_cost), for the paper's Figure 3.
struct CostmapRequest {
  std::string checkpoint;
  std::vector<double> state;      // the whole state; px and py are replaced by the grid's
  double tau = 3.0;               // time left
  bool has_goal = false;
  std::array<double, 2> goal{};   // default: the evaluation goal
  std::array<double, 2> px{-1.6, 1.6}, py{-1.6, 1.6};
  int64_t resolution = 81;        // points per axis
  std::string out;                // CSV file
};

void costmap(const CostmapRequest& request);

// `dmpc bench train`: a few iterations of the training loop itself (collect with the MPC actor,
// then the critic's minibatches), on every process of the job.
struct BenchTrainRequest {
  std::string backend = "cpu";         // cpu | cuda | auto (the configuration's backend key)
  std::string env = "ballbot";
  std::string config;                  // configuration (default: built-in), with --set overrides
  std::vector<std::string> overrides;
  int64_t batch = 64;                  // environments per process
  int64_t knots = 25;                  // actor knots (horizon = knots × actor.knot_dt)
  int64_t iters = 1;                   // iLQR iterations per control step
  int64_t threads = 1;                 // CPU threads per process
  int64_t rounds = 3;                  // timed training iterations (after one untimed)
  int64_t minibatches = 100;           // critic updates per iteration
  bool baseline = false;               // rank 0 first runs the same work alone (efficiency)
};

struct BenchTrainFigures {
  double seconds = 0;  // wall time of the timed iterations
  double env_steps = 0, knot_iterations = 0, critic_updates = 0, update_seconds = 0;
  double own_env_steps = 0;  // this process's share of env_steps
};

struct BenchTrainResult {
  int world_size = 1, rank = 0;
  std::string backend;  // resolved: cpu or cuda
  std::string critic_device;
  std::string critic_engine;  // critic.engine resolved (auto → native on the CPU): libtorch | native
  std::string actor_layout;  // the GPU actor's layout (backend cuda), else empty
  int threads = 1;
  BenchTrainFigures own;        // this process's work and time
  BenchTrainFigures aggregate;  // every process's work over the job's wall time (rank 0)
  bool has_baseline = false;
  BenchTrainFigures baseline;   // rank 0 alone (with --baseline)
};

BenchTrainResult bench_train(const BenchTrainRequest& request);

}  // namespace dmpc
