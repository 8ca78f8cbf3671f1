// Validated access to a TOML configuration.
//
// Every value is read through a typed accessor that names the key and its allowed range; a value
// of the wrong type or out of range throws ConfigError naming the key and the file. Keys absent
// from the file take the documented default passed by the caller. finish() then rejects every key
// in the file that nobody read, so a typo never silently falls back to a default.
//
// Keys are dotted paths ("task.penalty"); an element of an array of tables is "task.walls[1].to".
#pragma once

#include <cstdint>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace dmpc {

class ConfigError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ConfigReader {
 public:
  static ConfigReader from_file(const std::string& path);
  static ConfigReader from_string(const std::string& text, const std::string& source_name);
  ConfigReader(ConfigReader&&) noexcept;
  ConfigReader& operator=(ConfigReader&&) noexcept;
  ~ConfigReader();

  // Applies "a.b.c=value" (the value is TOML: 3, 0.5, "text", [1, 2]; a bare word is a string).
  void set_override(const std::string& assignment);

  bool has(const std::string& key) const;

  // A number in [lo, hi] (an integer literal is accepted too).
  double number(const std::string& key, double fallback, double lo, double hi);
  // A number with lo < value ≤ hi.
  double positive_number(const std::string& key, double fallback, double hi);
  int64_t integer(const std::string& key, int64_t fallback, int64_t lo, int64_t hi);
  bool boolean(const std::string& key, bool fallback);
  std::string choice(const std::string& key, const std::string& fallback,
                     const std::vector<std::string>& options);
  // An array of numbers in [lo, hi]; `size` 0 accepts any length ≥ 1 (≥ 0 with allow_empty).
  std::vector<double> numbers(const std::string& key, const std::vector<double>& fallback,
                              size_t size, double lo, double hi, bool allow_empty = false);
  // An array of arrays of `row_size` numbers each (e.g. a list of (x, y) points).
  std::vector<std::vector<double>> number_rows(const std::string& key,
                                               const std::vector<std::vector<double>>& fallback,
                                               size_t row_size, double lo, double hi);
  // Number of tables in an array of tables, or -1 when the key is absent.
  int64_t table_count(const std::string& key);

  // Throws ConfigError listing every key present in the file that was never read.
  void finish() const;

  // Every key read so far with the value in effect (defaults included), as TOML: the resolved
  // configuration a run directory records. Reading it back gives the same settings.
  std::string resolved_toml() const;

  // The source's name (a path or "<string>") for messages.
  const std::string& source() const;

 private:
  struct Impl;
  explicit ConfigReader(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace dmpc
