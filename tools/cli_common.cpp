#include "tools/cli_common.hpp"

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace dmpc::cli {

std::vector<double> parse_numbers(const std::string& option, const std::string& text,
                                  int expected) {
  std::vector<double> values;
  size_t start = 0;
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string item = text.substr(start, comma == std::string::npos ? std::string::npos
                                                                           : comma - start);
    const size_t index = values.size();
    if (item.empty())
      throw UsageError(option + ": element " + std::to_string(index) + " is empty");
    char* end = nullptr;
    errno = 0;
    const double v = std::strtod(item.c_str(), &end);
    if (end == item.c_str() || *end != '\0')
      throw UsageError(option + ": element " + std::to_string(index) + " \"" + item +
                       "\" is not a number");
    if (!std::isfinite(v) || errno == ERANGE)
      throw UsageError(option + ": element " + std::to_string(index) + " \"" + item +
                       "\" is not a finite number");
    values.push_back(v);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  if (expected >= 0 && static_cast<int>(values.size()) != expected)
    throw UsageError(option + ": expected " + std::to_string(expected) + " numbers, got " +
                     std::to_string(values.size()));
  return values;
}

std::vector<std::string> join_negative_values(int argc, char** argv) {
  std::vector<std::string> args;
  for (int i = 0; i < argc; ++i) {
    const std::string token = argv[i];
    const bool negative_number =
        token.size() > 1 && token[0] == '-' && (std::isdigit(static_cast<unsigned char>(token[1])) ||
                                                 token[1] == '.');
    const bool after_long_option = !args.empty() && args.back().rfind("--", 0) == 0 &&
                                   args.back().find('=') == std::string::npos &&
                                   args.back().size() > 2;
    if (negative_number && after_long_option) {
      args.back() += "=" + token;
    } else {
      args.push_back(token);
    }
  }
  return args;
}

RunConfig load_run_config(const std::string& path, const std::vector<std::string>& overrides,
                          const char* system, const char* defaults) {
  ConfigReader reader = path.empty() ? ConfigReader::from_string(defaults, "<defaults>")
                                     : ConfigReader::from_file(path);
  for (const std::string& s : overrides) reader.set_override(s);
  reader.set_override(std::string("env.system=\"") + system + "\"");
  return read_run_config(reader);
}

std::string format_full(double v) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace dmpc::cli
