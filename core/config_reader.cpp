#include "core/config_reader.hpp"

#include <cmath>
#include <fstream>
#include <set>
#include <sstream>
#include <toml++/toml.h>

namespace dmpc {

struct ConfigReader::Impl {
  toml::table root;
  std::string source;
  std::set<std::string> read_keys;
  toml::table resolved;  // every key read, with the value in effect (defaults included)

  // Stores `value` at `key` in `resolved`, creating tables and arrays of tables on the way.
  template <typename V>
  void record(const std::string& key, V&& value) {
    const std::vector<std::string> parts = split(key);
    toml::node* node = &resolved;
    for (size_t i = 0; i < parts.size(); ++i) {
      const bool last = i + 1 == parts.size();
      const std::string& part = parts[i];
      if (part.front() == '[') {
        toml::array* arr = node->as_array();
        const size_t index = std::stoul(part.substr(1, part.size() - 2));
        while (arr->size() <= index) arr->push_back(toml::table{});
        node = arr->get(index);
        continue;
      }
      toml::table* table = node->as_table();
      const bool next_is_index = !last && parts[i + 1].front() == '[';
      if (last) {
        table->insert_or_assign(part, std::forward<V>(value));
        return;
      }
      if (!table->get(part)) {
        if (next_is_index) {
          table->insert(part, toml::array{});
        } else {
          table->insert(part, toml::table{});
        }
      }
      node = table->get(part);
    }
  }

  [[noreturn]] void fail(const std::string& key, const std::string& what) const {
    throw ConfigError(source + ": " + key + ": " + what);
  }

  // Splits "a.b[2].c" into segments; an index segment is "[2]".
  static std::vector<std::string> split(const std::string& key) {
    std::vector<std::string> parts;
    std::string cur;
    for (char ch : key) {
      if (ch == '.') {
        if (!cur.empty()) parts.push_back(cur);
        cur.clear();
      } else if (ch == '[') {
        if (!cur.empty()) parts.push_back(cur);
        cur = "[";
      } else if (ch == ']') {
        parts.push_back(cur + "]");
        cur.clear();
      } else {
        cur += ch;
      }
    }
    if (!cur.empty()) parts.push_back(cur);
    return parts;
  }

  const toml::node* find(const std::string& key) const {
    const toml::node* node = &root;
    for (const std::string& part : split(key)) {
      if (part.front() == '[') {
        const toml::array* arr = node->as_array();
        if (!arr) return nullptr;
        const size_t index = std::stoul(part.substr(1, part.size() - 2));
        node = arr->get(index);
      } else {
        const toml::table* table = node->as_table();
        if (!table) return nullptr;
        node = table->get(part);
      }
      if (!node) return nullptr;
    }
    return node;
  }

  // The node for `key`, marked as read; nullptr when absent.
  const toml::node* take(const std::string& key) {
    const toml::node* node = find(key);
    if (node) read_keys.insert(key);
    return node;
  }

  static std::string describe(const toml::node& node) {
    std::ostringstream os;
    if (node.is_string()) {
      os << "string \"" << node.as_string()->get() << "\"";
    } else {
      os << node.type() << " ";
      node.visit([&os](auto&& v) { os << v; });
    }
    return os.str();
  }

  double to_number(const std::string& key, const toml::node& node) const {
    if (auto v = node.as_floating_point()) return v->get();
    if (auto v = node.as_integer()) return static_cast<double>(v->get());
    fail(key, "expected a number, got " + describe(node));
  }

  void check_range(const std::string& key, double v, double lo, double hi) const {
    if (!std::isfinite(v)) fail(key, "must be finite, got " + format(v));
    if (v < lo || v > hi)
      fail(key, format(v) + " is out of range [" + format(lo) + ", " + format(hi) + "]");
  }

  static std::string format(double v) {
    std::ostringstream os;
    os.precision(10);
    os << v;
    return os.str();
  }

  void collect_unread(const toml::node& node, const std::string& path,
                      std::vector<std::string>& unread) const {
    if (read_keys.count(path)) return;
    if (const toml::table* t = node.as_table()) {
      for (auto&& [k, v] : *t)
        collect_unread(v, path.empty() ? std::string(k.str()) : path + "." + std::string(k.str()),
                       unread);
      return;
    }
    if (const toml::array* a = node.as_array(); a && a->is_array_of_tables()) {
      for (size_t i = 0; i < a->size(); ++i)
        collect_unread(*a->get(i), path + "[" + std::to_string(i) + "]", unread);
      return;
    }
    unread.push_back(path);
  }
};

namespace {
toml::array to_array(const std::vector<double>& values) {
  toml::array a;
  for (double v : values) a.push_back(v);
  return a;
}
toml::array to_rows(const std::vector<std::vector<double>>& rows) {
  toml::array a;
  for (const auto& r : rows) a.push_back(to_array(r));
  return a;
}
}  // namespace

std::string ConfigReader::resolved_toml() const {
  std::ostringstream os;
  os << impl_->resolved << "\n";
  return os.str();
}

ConfigReader::ConfigReader(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
ConfigReader::ConfigReader(ConfigReader&&) noexcept = default;
ConfigReader& ConfigReader::operator=(ConfigReader&&) noexcept = default;
ConfigReader::~ConfigReader() = default;

ConfigReader ConfigReader::from_string(const std::string& text, const std::string& source_name) {
  auto impl = std::make_unique<Impl>();
  impl->source = source_name;
  try {
    impl->root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    std::ostringstream os;
    os << source_name << ":" << e.source().begin.line << ":" << e.source().begin.column
       << ": malformed TOML: " << e.description();
    throw ConfigError(os.str());
  }
  return ConfigReader(std::move(impl));
}

ConfigReader ConfigReader::from_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw ConfigError(path + ": cannot open the configuration file");
  std::ostringstream text;
  text << in.rdbuf();
  return from_string(text.str(), path);
}

void ConfigReader::set_override(const std::string& assignment) {
  const size_t eq = assignment.find('=');
  if (eq == std::string::npos || eq == 0)
    throw ConfigError("--set " + assignment + ": expected key=value");
  const std::string key = assignment.substr(0, eq);
  const std::string value = assignment.substr(eq + 1);
  toml::table parsed;
  try {
    parsed = toml::parse("v = " + value);
  } catch (const toml::parse_error&) {
    parsed = toml::table{{"v", value}};  // a bare word: take it as a string
  }
  std::vector<std::string> parts = Impl::split(key);
  toml::table* table = &impl_->root;
  for (size_t i = 0; i + 1 < parts.size(); ++i) {
    if (parts[i].front() == '[') throw ConfigError("--set " + key + ": cannot index arrays");
    toml::node* child = table->get(parts[i]);
    if (!child) {
      table->insert(parts[i], toml::table{});
      child = table->get(parts[i]);
    }
    table = child->as_table();
    if (!table) throw ConfigError("--set " + key + ": " + parts[i] + " is not a table");
  }
  table->insert_or_assign(parts.back(), *parsed.get("v"));
}

bool ConfigReader::has(const std::string& key) const { return impl_->find(key) != nullptr; }

double ConfigReader::number(const std::string& key, double fallback, double lo, double hi) {
  const toml::node* node = impl_->take(key);
  double v = fallback;
  if (node) {
    v = impl_->to_number(key, *node);
    impl_->check_range(key, v, lo, hi);
  }
  impl_->record(key, v);
  return v;
}

double ConfigReader::positive_number(const std::string& key, double fallback, double hi) {
  const double v = number(key, fallback, 0.0, hi);
  if (!(v > 0.0)) impl_->fail(key, "must be greater than 0, got " + Impl::format(v));
  return v;
}

int64_t ConfigReader::integer(const std::string& key, int64_t fallback, int64_t lo, int64_t hi) {
  const toml::node* node = impl_->take(key);
  if (!node) {
    impl_->record(key, fallback);
    return fallback;
  }
  const auto* v = node->as_integer();
  if (!v) impl_->fail(key, "expected an integer, got " + Impl::describe(*node));
  if (v->get() < lo || v->get() > hi)
    impl_->fail(key, std::to_string(v->get()) + " is out of range [" + std::to_string(lo) + ", " +
                         std::to_string(hi) + "]");
  impl_->record(key, v->get());
  return v->get();
}

bool ConfigReader::boolean(const std::string& key, bool fallback) {
  const toml::node* node = impl_->take(key);
  if (!node) {
    impl_->record(key, fallback);
    return fallback;
  }
  const auto* v = node->as_boolean();
  if (!v) impl_->fail(key, "expected true or false, got " + Impl::describe(*node));
  impl_->record(key, v->get());
  return v->get();
}

std::string ConfigReader::choice(const std::string& key, const std::string& fallback,
                                 const std::vector<std::string>& options) {
  const toml::node* node = impl_->take(key);
  if (!node) {
    impl_->record(key, fallback);
    return fallback;
  }
  std::string allowed;
  for (const std::string& o : options) allowed += (allowed.empty() ? "" : ", ") + o;
  const auto* v = node->as_string();
  if (!v) impl_->fail(key, "expected one of " + allowed + ", got " + Impl::describe(*node));
  for (const std::string& o : options)
    if (v->get() == o) {
      impl_->record(key, o);
      return o;
    }
  impl_->fail(key, "\"" + v->get() + "\" is not one of " + allowed);
}

std::vector<double> ConfigReader::numbers(const std::string& key,
                                          const std::vector<double>& fallback, size_t size,
                                          double lo, double hi, bool allow_empty) {
  const toml::node* node = impl_->take(key);
  if (!node) {
    impl_->record(key, to_array(fallback));
    return fallback;
  }
  const toml::array* arr = node->as_array();
  if (!arr) impl_->fail(key, "expected an array of numbers, got " + Impl::describe(*node));
  if (size != 0 && arr->size() != size)
    impl_->fail(key, "expected " + std::to_string(size) + " numbers, got " +
                         std::to_string(arr->size()));
  if (arr->empty() && !allow_empty) impl_->fail(key, "expected at least one number");
  std::vector<double> out;
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string item = key + "[" + std::to_string(i) + "]";
    const double v = impl_->to_number(item, *arr->get(i));
    impl_->check_range(item, v, lo, hi);
    out.push_back(v);
  }
  impl_->record(key, to_array(out));
  return out;
}

std::vector<std::vector<double>> ConfigReader::number_rows(
    const std::string& key, const std::vector<std::vector<double>>& fallback, size_t row_size,
    double lo, double hi) {
  const toml::node* node = impl_->take(key);
  if (!node) {
    impl_->record(key, to_rows(fallback));
    return fallback;
  }
  const toml::array* arr = node->as_array();
  if (!arr || arr->empty())
    impl_->fail(key, "expected a non-empty array of " + std::to_string(row_size) + "-number rows");
  std::vector<std::vector<double>> rows;
  for (size_t i = 0; i < arr->size(); ++i) {
    const std::string item = key + "[" + std::to_string(i) + "]";
    const toml::array* row = arr->get(i)->as_array();
    if (!row || row->size() != row_size)
      impl_->fail(item, "expected " + std::to_string(row_size) + " numbers");
    std::vector<double> values;
    for (size_t j = 0; j < row_size; ++j) {
      const double v = impl_->to_number(item, *row->get(j));
      impl_->check_range(item, v, lo, hi);
      values.push_back(v);
    }
    rows.push_back(values);
  }
  impl_->record(key, to_rows(rows));
  return rows;
}

int64_t ConfigReader::table_count(const std::string& key) {
  const toml::node* node = impl_->find(key);
  if (!node) return -1;
  const toml::array* arr = node->as_array();
  if (!arr || (!arr->empty() && !arr->is_array_of_tables()))
    impl_->fail(key, "expected an array of tables, got " + Impl::describe(*node));
  if (arr->empty()) {
    impl_->read_keys.insert(key);
    impl_->record(key, toml::array{});
  }
  return static_cast<int64_t>(arr->size());
}

void ConfigReader::finish() const {
  std::vector<std::string> unread;
  impl_->collect_unread(impl_->root, "", unread);
  if (unread.empty()) return;
  std::string list;
  for (const std::string& k : unread) list += (list.empty() ? "" : ", ") + k;
  throw ConfigError(impl_->source + ": unknown key" + (unread.size() > 1 ? "s " : " ") + list);
}

const std::string& ConfigReader::source() const { return impl_->source; }

}  // namespace dmpc
