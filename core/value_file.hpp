// The critic's value network on the host: random initialisation and the checkpoint file.
//
// File format (little-endian, written by save_value_network, read by load_value_network):
//
//     offset  size       field
//     0       8          magic "DMPCVAL1"
//     8       4          int32 inputs
//     12      4          int32 width
//     16      4          int32 depth
//     20      8          uint64 parameter count (must equal mlp_parameter_count of the shape)
//     28      8·count    the parameters as float64, in the layout of core/value_mlp.hpp
//     28+8·count  8      uint64 FNV-1a (64-bit) checksum of every byte before it
//
// A network with wall features (MlpShape::features > 0) is written with the magic "DMPCVAL2" and
// an int32 features at offset 20, which moves the count to 24 and the parameters to 32; a network
// without them is written in the first format, byte for byte as before. A network with path
// features (MlpShape::path_features > 0) is written with "DMPCVAL3", features at offset 20 and
// path_features at 24, the count at 28 and the parameters at 36. A network whose path features
// follow the body's lean (MlpShape::path_body = 1) is written with "DMPCVAL4": path_body at 28, the
// count at 32 and the parameters at 40.
//
// Saving writes a temporary file next to the target and renames it over the target, so a reader
// never sees a half-written network. Loading validates everything and throws std::runtime_error
// with "<path>: <problem>".
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/value_mlp.hpp"

namespace dmpc {

struct ValueNetwork {
  MlpShape shape;
  std::vector<double> params;  // mlp_parameter_count(shape) numbers, layout of value_mlp.hpp
};

// A freshly initialised network: hidden weights uniform in ±√(6 / (fan_in + fan_out)) (Glorot),
// output weights the same times output_scale, every bias and b_out zero. The normalisation is
// offset 0 / scale 1 unless `offset` / `scale` are given (mlp_network_inputs numbers each: the
// raw inputs, then the features; scales > 0). `walls` holds the features' segments, 5 numbers
// (x0, y0, x1, y1, radius) per feature, then, with path features, their 2 + P parameters
// (velocity index, margin, look-ahead times; core/value_mlp.hpp).
// The weights are Philox draws keyed by `seed` on the kInit stream: the same seed gives the same
// network on every machine. Throws std::invalid_argument on an invalid shape or normalisation.
ValueNetwork random_value_network(MlpShape shape, uint64_t seed, double output_scale,
                                  const std::vector<double>& offset = {},
                                  const std::vector<double>& scale = {},
                                  const std::vector<double>& walls = {});

// Throws std::invalid_argument when the network is invalid (shape, parameter count, non-finite
// parameter, scale ≤ 0) and std::runtime_error when the file cannot be written.
void save_value_network(const std::string& path, const ValueNetwork& net);

ValueNetwork load_value_network(const std::string& path);

}  // namespace dmpc
