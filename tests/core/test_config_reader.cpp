#include <gtest/gtest.h>

#include "core/config_reader.hpp"

namespace dmpc {
namespace {

// The message of the ConfigError thrown by f (empty when nothing is thrown).
template <typename F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const ConfigError& e) {
    return e.what();
  }
  return "";
}

TEST(ConfigReader, ReadsValuesAndDefaults) {
  ConfigReader r = ConfigReader::from_string(
      "a = 2\n[s]\nx = 0.5\nname = \"dense\"\nv = [1, 2.5]\n", "t.toml");
  EXPECT_EQ(r.integer("a", 0, 0, 10), 2);
  EXPECT_DOUBLE_EQ(r.number("s.x", 0, 0, 1), 0.5);
  EXPECT_DOUBLE_EQ(r.number("s.absent", 7.0, 0, 10), 7.0);
  EXPECT_EQ(r.choice("s.name", "binary", {"dense", "binary"}), "dense");
  EXPECT_EQ(r.numbers("s.v", {}, 2, 0, 10), (std::vector<double>{1, 2.5}));
  EXPECT_NO_THROW(r.finish());
}

TEST(ConfigReader, UnknownKeysAreNamed) {
  ConfigReader r = ConfigReader::from_string("[task]\npenalty = 1\npenlaty = 2\n", "t.toml");
  r.number("task.penalty", 0, 0, 100);
  EXPECT_EQ(error_of([&] { r.finish(); }), "t.toml: unknown key task.penlaty");
}

TEST(ConfigReader, BadValuesNameKeyAndProblem) {
  ConfigReader r = ConfigReader::from_string(
      "x = -1\ny = \"abc\"\nz = 1.5\nc = \"sparse\"\nv = [1, 2, 3]\n", "t.toml");
  EXPECT_EQ(error_of([&] { r.number("x", 0, 0, 10); }), "t.toml: x: -1 is out of range [0, 10]");
  EXPECT_EQ(error_of([&] { r.number("y", 0, 0, 10); }),
            "t.toml: y: expected a number, got string \"abc\"");
  EXPECT_NE(error_of([&] { r.integer("z", 0, 0, 10); }).find("z: expected an integer"),
            std::string::npos);
  EXPECT_EQ(error_of([&] { r.choice("c", "dense", {"dense", "binary"}); }),
            "t.toml: c: \"sparse\" is not one of dense, binary");
  EXPECT_EQ(error_of([&] { r.numbers("v", {}, 2, 0, 10); }), "t.toml: v: expected 2 numbers, got 3");
}

TEST(ConfigReader, MalformedTomlGivesLineAndColumn) {
  const std::string msg = error_of([] { ConfigReader::from_string("a = [1, 2\n", "bad.toml"); });
  EXPECT_EQ(msg.rfind("bad.toml:", 0), 0u) << msg;
  EXPECT_NE(msg.find("malformed TOML"), std::string::npos) << msg;
}

TEST(ConfigReader, MissingFileIsNamed) {
  EXPECT_EQ(error_of([] { ConfigReader::from_file("/nonexistent/x.toml"); }),
            "/nonexistent/x.toml: cannot open the configuration file");
}

TEST(ConfigReader, OverridesReplaceAndCreateKeys) {
  ConfigReader r = ConfigReader::from_string("[task]\ncost = \"dense\"\n", "t.toml");
  r.set_override("task.cost=binary");  // bare word → string
  r.set_override("task.penalty=5");
  r.set_override("env.batch=8");
  EXPECT_EQ(r.choice("task.cost", "dense", {"dense", "binary"}), "binary");
  EXPECT_DOUBLE_EQ(r.number("task.penalty", 20, 0, 100), 5.0);
  EXPECT_EQ(r.integer("env.batch", 1, 1, 100), 8);
  EXPECT_NO_THROW(r.finish());
  EXPECT_THROW(r.set_override("novalue"), ConfigError);
}

TEST(ConfigReader, ArraysOfTablesAreWalkedForUnknownKeys) {
  ConfigReader r = ConfigReader::from_string(
      "w = [{a = 1, b = 2}, {a = 3, typo = 4}]\n", "t.toml");
  ASSERT_EQ(r.table_count("w"), 2);
  r.number("w[0].a", 0, 0, 9);
  r.number("w[0].b", 0, 0, 9);
  r.number("w[1].a", 0, 0, 9);
  EXPECT_EQ(error_of([&] { r.finish(); }), "t.toml: unknown key w[1].typo");
}

}  // namespace
}  // namespace dmpc
