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
  std::string out;                     // run directory (default runs/<config name>)
  bool resume = false;
  int64_t stop_after = 0;  // stop (resumably) after this many iterations of this call; 0 = no
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
};

void evaluate(const EvalRequest& request);

}  // namespace dmpc
