#include "core/value_file.hpp"

#include <cmath>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <stdexcept>

#include "core/philox.hpp"

namespace dmpc {
namespace {

constexpr char kMagic[8] = {'D', 'M', 'P', 'C', 'V', 'A', 'L', '1'};         // no features
constexpr char kMagicFeatures[8] = {'D', 'M', 'P', 'C', 'V', 'A', 'L', '2'};  // with features
constexpr char kMagicPath[8] = {'D', 'M', 'P', 'C', 'V', 'A', 'L', '3'};      // with path features
constexpr char kMagicBody[8] = {'D', 'M', 'P', 'C', 'V', 'A', 'L', '4'};      // ... that follow the lean
constexpr size_t kHeaderBytes = 8 + 3 * 4 + 8;  // magic, inputs, width, depth, count
constexpr size_t kHeaderBytesFeatures = kHeaderBytes + 4;  // ... and features after depth
constexpr size_t kHeaderBytesPath = kHeaderBytes + 8;      // ... and path features after them
constexpr size_t kHeaderBytesBody = kHeaderBytes + 12;     // ... and path_body after those
constexpr size_t kChecksumBytes = 8;

uint64_t fnv1a64(const uint8_t* data, size_t size) {
  uint64_t h = 14695981039346656037ull;  // FNV offset basis
  for (size_t i = 0; i < size; ++i) {
    h ^= data[i];
    h *= 1099511628211ull;  // FNV prime
  }
  return h;
}

// Little-endian encoding independent of the host's byte order.
void put_u64(std::vector<uint8_t>& out, uint64_t v) {
  for (int b = 0; b < 8; ++b) out.push_back(static_cast<uint8_t>(v >> (8 * b)));
}
void put_i32(std::vector<uint8_t>& out, int32_t v) {
  const uint32_t u = static_cast<uint32_t>(v);
  for (int b = 0; b < 4; ++b) out.push_back(static_cast<uint8_t>(u >> (8 * b)));
}
uint64_t get_u64(const uint8_t* p) {
  uint64_t v = 0;
  for (int b = 0; b < 8; ++b) v |= static_cast<uint64_t>(p[b]) << (8 * b);
  return v;
}
int32_t get_i32(const uint8_t* p) {
  uint32_t u = 0;
  for (int b = 0; b < 4; ++b) u |= static_cast<uint32_t>(p[b]) << (8 * b);
  return static_cast<int32_t>(u);
}
uint64_t double_bits(double v) {
  uint64_t u;
  std::memcpy(&u, &v, sizeof u);
  return u;
}
double bits_double(uint64_t u) {
  double v;
  std::memcpy(&v, &u, sizeof v);
  return v;
}

std::string shape_text(const MlpShape& s) {
  std::ostringstream os;
  os << "inputs " << s.inputs << ", width " << s.width << ", depth " << s.depth;
  if (s.features) os << ", features " << s.features;
  if (s.path_features) os << ", path features " << s.path_features;
  if (s.path_body) os << " (following the lean)";
  return os.str();
}

std::string invalid_shape_text(const MlpShape& s) {
  std::ostringstream os;
  os << "invalid shape (" << shape_text(s) << "): allowed are inputs 1.." << kMaxMlpInputs
     << " (with the features), width 1.." << kMaxMlpWidth << ", depth 1.." << kMaxMlpDepth
     << ", features 0.." << kMaxMlpFeatures << ", path features 0.." << kMaxPathFeatures
     << " (with at least one wall feature and inputs >= 7), path_body 0 or 1 (with path features"
     << " and inputs >= 13)";
  return os.str();
}

// Names parameter `index` of the flat buffer, e.g. "W_2[3][7]" or "scale[4]".
std::string parameter_name(const MlpShape& s, int index) {
  std::ostringstream os;
  const int n = mlp_network_inputs(s), w = s.width;
  if (index >= mlp_path_offset(s)) {
    const int r = index - mlp_path_offset(s);
    if (r == 0) os << "path.velocity_index";
    else if (r == 1) os << "path.margin";
    else if (r < 2 + s.path_features) os << "path.lookahead[" << r - 2 << "]";
    else if (r == 2 + s.path_features) os << "path.body_index";
    else os << "path.body_gain";
  } else if (index >= mlp_walls_offset(s)) {
    static const char* const kField[5] = {"x0", "y0", "x1", "y1", "radius"};
    const int r = index - mlp_walls_offset(s);
    os << "wall[" << r / 5 << "]." << kField[r % 5];
  } else if (index < n) {
    os << "offset[" << index << "]";
  } else if (index < 2 * n) {
    os << "scale[" << index - n << "]";
  } else if (index >= mlp_output_offset(s)) {
    const int r = index - mlp_output_offset(s);
    if (r < w) {
      os << "w_out[" << r << "]";
    } else {
      os << "b_out";
    }
  } else {
    for (int l = 1; l <= s.depth; ++l) {
      const int fan_in = l == 1 ? n : w;
      const int wo = mlp_weight_offset(s, l), bo = mlp_bias_offset(s, l);
      if (index >= wo && index < bo) {
        os << "W_" << l << "[" << (index - wo) / fan_in << "][" << (index - wo) % fan_in << "]";
        break;
      }
      if (index >= bo && index < bo + w) {
        os << "b_" << l << "[" << index - bo << "]";
        break;
      }
    }
  }
  return os.str();
}

// The first problem of a network's parameters (non-finite value, scale ≤ 0), or "" when none.
// The shape and count must already be valid.
std::string parameter_problem(const MlpShape& s, const std::vector<double>& params) {
  for (size_t i = 0; i < params.size(); ++i) {
    if (!std::isfinite(params[i])) {
      std::ostringstream os;
      os << "parameter " << i << " (" << parameter_name(s, static_cast<int>(i))
         << ") is not finite (" << params[i] << ")";
      return os.str();
    }
  }
  const int n = mlp_network_inputs(s);
  for (int i = 0; i < n; ++i) {
    const double v = params[static_cast<size_t>(n + i)];
    if (!(v > 0)) {
      std::ostringstream os;
      os << "normalisation scale[" << i << "] = " << v << " is not positive";
      return os.str();
    }
  }
  for (int j = 0; j < s.features; ++j) {
    const double r = params[static_cast<size_t>(mlp_walls_offset(s) + 5 * j + 4)];
    if (!(r >= 0)) {
      std::ostringstream os;
      os << "wall[" << j << "].radius = " << r << " is negative";
      return os.str();
    }
  }
  if (s.path_features > 0) {
    const double vi = params[static_cast<size_t>(mlp_path_offset(s))];
    const double margin = params[static_cast<size_t>(mlp_path_offset(s) + 1)];
    // The velocity's two state entries must lie in the state, after the position.
    if (!(vi == std::floor(vi) && vi >= 2 && 2 + vi <= s.inputs - 3)) {
      std::ostringstream os;
      os << "path.velocity_index = " << vi << " is not a state index in 2.." << s.inputs - 5;
      return os.str();
    }
    if (!(margin >= 0)) {
      std::ostringstream os;
      os << "path.margin = " << margin << " is negative";
      return os.str();
    }
    if (s.path_body) {
      // yaw, pitch, roll at b … b + 2, before the velocity; their rates at b + vi … b + 2 + vi.
      const double b = params[static_cast<size_t>(mlp_path_offset(s) + 2 + s.path_features)];
      const double h = params[static_cast<size_t>(mlp_path_offset(s) + 3 + s.path_features)];
      if (!(b == std::floor(b) && b >= 2 && b + 2 < vi && b + 2 + vi <= s.inputs - 4)) {
        std::ostringstream os;
        os << "path.body_index = " << b << " does not leave yaw, pitch, roll and their rates in the state"
           << " (velocity at " << vi << ")";
        return os.str();
      }
      if (!(h >= 0)) {
        std::ostringstream os;
        os << "path.body_gain = " << h << " is negative";
        return os.str();
      }
    }
  }
  return "";
}

std::string count_mismatch_text(uint64_t count, const MlpShape& s) {
  std::ostringstream os;
  os << "parameter count " << count << " does not match the shape (" << shape_text(s)
     << " needs " << mlp_parameter_count(s) << ")";
  return os.str();
}

}  // namespace

ValueNetwork random_value_network(MlpShape shape, uint64_t seed, double output_scale,
                                  const std::vector<double>& offset,
                                  const std::vector<double>& scale,
                                  const std::vector<double>& walls) {
  if (!mlp_shape_valid(shape)) throw std::invalid_argument(invalid_shape_text(shape));
  if (!std::isfinite(output_scale)) throw std::invalid_argument("output_scale is not finite");
  const size_t tail = static_cast<size_t>(mlp_parameter_count(shape) - mlp_walls_offset(shape));
  if (walls.size() != tail)
    throw std::invalid_argument("walls has " + std::to_string(walls.size()) + " numbers, need " +
                                std::to_string(tail) + " (5 per wall feature, then 2 + P for P path features, + 2 with path_body)");
  const size_t n = static_cast<size_t>(mlp_network_inputs(shape));
  if (!offset.empty() && offset.size() != n)
    throw std::invalid_argument("offset has " + std::to_string(offset.size()) + " numbers, need " +
                                std::to_string(n));
  if (!scale.empty() && scale.size() != n)
    throw std::invalid_argument("scale has " + std::to_string(scale.size()) + " numbers, need " +
                                std::to_string(n));

  ValueNetwork net{shape, std::vector<double>(static_cast<size_t>(mlp_parameter_count(shape)), 0.0)};
  double* p = net.params.data();
  for (size_t i = 0; i < n; ++i) {
    p[i] = offset.empty() ? 0.0 : offset[i];
    p[n + i] = scale.empty() ? 1.0 : scale[i];
  }

  // Parameter number `index` takes lane index % 4 of Philox block index / 4 (kInit stream), so a
  // weight's value depends only on the seed and its place in the buffer.
  const PhiloxKey key = philox_key(seed);
  auto uniform_pm1 = [&](int index) {  // uniform in (−1, 1)
    const uint32_t block = static_cast<uint32_t>(index) / 4u;
    const PhiloxCounter bits = philox4x32_10(
        PhiloxCounter{{block, 0u, 0u, static_cast<uint32_t>(RandomStream::kInit)}}, key);
    return 2.0 * uniform_open01<double>(bits.c[index % 4]) - 1.0;
  };
  auto fill = [&](int first, int count, double limit) {
    for (int i = first; i < first + count; ++i) p[i] = limit * uniform_pm1(i);
  };
  for (size_t i = 0; i < walls.size(); ++i) p[static_cast<size_t>(mlp_walls_offset(shape)) + i] = walls[i];
  const int w = shape.width;
  for (int l = 1; l <= shape.depth; ++l) {
    const int fan_in = l == 1 ? static_cast<int>(n) : w;
    fill(mlp_weight_offset(shape, l), w * fan_in, std::sqrt(6.0 / (fan_in + w)));
  }
  fill(mlp_output_offset(shape), w, output_scale * std::sqrt(6.0 / (w + 1)));

  const std::string problem = parameter_problem(shape, net.params);
  if (!problem.empty()) throw std::invalid_argument(problem);
  return net;
}

void save_value_network(const std::string& path, const ValueNetwork& net) {
  if (!mlp_shape_valid(net.shape))
    throw std::invalid_argument(path + ": cannot save: " + invalid_shape_text(net.shape));
  if (net.params.size() != static_cast<size_t>(mlp_parameter_count(net.shape)))
    throw std::invalid_argument(path + ": cannot save: " +
                                count_mismatch_text(net.params.size(), net.shape));
  const std::string problem = parameter_problem(net.shape, net.params);
  if (!problem.empty()) throw std::invalid_argument(path + ": cannot save: " + problem);

  // Without features the first format, byte for byte; with wall features only the second
  // (features after depth); with path features the third (and path features after features);
  // with path_body the fourth (and path_body after those).
  const bool with_path = net.shape.path_features > 0, with_body = net.shape.path_body != 0;
  const char* magic =
      with_body ? kMagicBody : (with_path ? kMagicPath : (net.shape.features ? kMagicFeatures : kMagic));
  std::vector<uint8_t> bytes(magic, magic + 8);
  bytes.reserve(kHeaderBytesBody + 8 * net.params.size() + kChecksumBytes);
  put_i32(bytes, net.shape.inputs);
  put_i32(bytes, net.shape.width);
  put_i32(bytes, net.shape.depth);
  if (net.shape.features || with_path) put_i32(bytes, net.shape.features);
  if (with_path) put_i32(bytes, net.shape.path_features);
  if (with_body) put_i32(bytes, net.shape.path_body);
  put_u64(bytes, net.params.size());
  for (double v : net.params) put_u64(bytes, double_bits(v));
  put_u64(bytes, fnv1a64(bytes.data(), bytes.size()));

  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) throw std::runtime_error(tmp + ": cannot open for writing");
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    out.close();
    if (!out) {
      std::remove(tmp.c_str());
      throw std::runtime_error(tmp + ": write failed");
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    std::remove(tmp.c_str());
    throw std::runtime_error(path + ": cannot rename " + tmp + " to it");
  }
}

ValueNetwork load_value_network(const std::string& path) {
  auto fail = [&path](const std::string& what) -> std::runtime_error {
    return std::runtime_error(path + ": " + what);
  };
  std::ifstream in(path, std::ios::binary);
  if (!in) throw fail("cannot open the value-network file");
  const std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)),
                                   std::istreambuf_iterator<char>());
  if (in.bad()) throw fail("read error");

  if (bytes.size() < 8 && std::memcmp(bytes.data(), kMagic, bytes.size()) == 0)
    throw fail("truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the magic");
  const bool with_body = bytes.size() >= 8 && std::memcmp(bytes.data(), kMagicBody, 8) == 0;
  const bool with_path = with_body || (bytes.size() >= 8 && std::memcmp(bytes.data(), kMagicPath, 8) == 0);
  const bool with_features =
      with_path || (bytes.size() >= 8 && std::memcmp(bytes.data(), kMagicFeatures, 8) == 0);
  if (bytes.size() < 8 || (!with_features && std::memcmp(bytes.data(), kMagic, 8) != 0))
    throw fail("not a dmpc value-network file (wrong magic, expected \"DMPCVAL1\" … \"DMPCVAL4\")");
  const size_t header = with_body ? kHeaderBytesBody
                                  : (with_path ? kHeaderBytesPath : (with_features ? kHeaderBytesFeatures : kHeaderBytes));
  if (bytes.size() < header + kChecksumBytes)
    throw fail("truncated: " + std::to_string(bytes.size()) + " bytes, shorter than the header");
  const MlpShape shape{get_i32(&bytes[8]), get_i32(&bytes[12]), get_i32(&bytes[16]),
                       with_features ? get_i32(&bytes[20]) : 0, with_path ? get_i32(&bytes[24]) : 0,
                       with_body ? get_i32(&bytes[28]) : 0};
  const uint64_t count = get_u64(&bytes[header - 8]);

  // The size follows from the count alone; check it (and the checksum) before trusting the header,
  // so that a damaged file reads as damaged rather than as a strange network.
  const uint64_t max_count = (bytes.size() - header - kChecksumBytes) / 8;
  if (count > max_count)
    throw fail("truncated: the header announces " + std::to_string(count) +
               " parameters, the file has room for at most " + std::to_string(max_count));
  const size_t expected = header + 8 * static_cast<size_t>(count) + kChecksumBytes;
  if (bytes.size() != expected)
    throw fail("unexpected size: " + std::to_string(bytes.size()) + " bytes, " +
               std::to_string(count) + " parameters need " + std::to_string(expected) +
               " (trailing data)");
  const uint64_t stored = get_u64(&bytes[expected - kChecksumBytes]);
  if (stored != fnv1a64(bytes.data(), expected - kChecksumBytes))
    throw fail("checksum mismatch (the file is corrupted)");

  if (!mlp_shape_valid(shape)) throw fail(invalid_shape_text(shape));
  if (count != static_cast<uint64_t>(mlp_parameter_count(shape)))
    throw fail(count_mismatch_text(count, shape));

  ValueNetwork net{shape, std::vector<double>(static_cast<size_t>(count))};
  for (size_t i = 0; i < net.params.size(); ++i)
    net.params[i] = bits_double(get_u64(&bytes[header + 8 * i]));
  const std::string problem = parameter_problem(shape, net.params);
  if (!problem.empty()) throw fail(problem);
  return net;
}

}  // namespace dmpc
