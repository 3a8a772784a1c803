// Config: keys and types come from the defaults file; files and overrides are checked against it.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "cli/config.h"
#include "cli/run_setup.h"
#include "lucid/error.h"

namespace lucid::cli {
namespace {

std::filesystem::path write_temp(const std::string& name, const std::string& text) {
  const auto p =
      std::filesystem::temp_directory_path() / ("lucid_cfg_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p;
}

Config small_defaults() {
  return Config::from_defaults(write_temp(
      "defaults.yaml", "task: cartpole-swingup\nsteps: 100\nlr: 0.0003\nmpc: true\nname: \"7\"\n"));
}

TEST(Config, TypesComeFromTheDefaults) {
  Config c = small_defaults();
  EXPECT_EQ(c.get_string("task"), "cartpole-swingup");
  EXPECT_EQ(c.get_int("steps"), 100);
  EXPECT_DOUBLE_EQ(c.get_float("lr"), 3e-4);
  EXPECT_TRUE(c.get_bool("mpc"));
  EXPECT_EQ(c.get_string("name"), "7");           // quoted: a string, even though it reads as a number
  EXPECT_DOUBLE_EQ(c.get_float("steps"), 100.0);  // an integer may be read as a number
  EXPECT_THROW(c.get_int("lr"), ConfigError);
}

TEST(Config, OverridesAreTypeChecked) {
  Config c = small_defaults();
  c.apply_overrides({"steps=2e3", "lr=1", "mpc=false", "task=walker-walk", "name=abc"});
  EXPECT_EQ(c.get_int("steps"), 2000);
  EXPECT_DOUBLE_EQ(c.get_float("lr"), 1.0);
  EXPECT_FALSE(c.get_bool("mpc"));
  EXPECT_EQ(c.get_string("task"), "walker-walk");
  EXPECT_TRUE(c.is_set("steps"));
  EXPECT_THROW(c.apply_overrides({"steps=abc"}), ConfigError);
  EXPECT_THROW(c.apply_overrides({"steps=1.5"}), ConfigError);
  EXPECT_THROW(c.apply_overrides({"mpc=maybe"}), ConfigError);
  EXPECT_THROW(c.apply_overrides({"steps"}), ConfigError);
}

TEST(Config, UnknownKeyNamesTheKeyAndTheValidOnes) {
  Config c = small_defaults();
  try {
    c.apply_overrides({"not_a_key=1"});
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("'not_a_key'"), std::string::npos) << what;
    EXPECT_NE(what.find("task, steps, lr, mpc, name"), std::string::npos) << what;
  }
}

TEST(Config, FileErrorsNameFileAndLine) {
  Config c = small_defaults();
  try {
    c.merge_file(write_temp("bad.yaml", "steps: 5\nbogus: 1\n"));
    FAIL() << "no error";
  } catch (const ConfigError& e) {
    EXPECT_NE(std::string(e.what()).find("bad.yaml:2: unknown key 'bogus'"), std::string::npos) << e.what();
  }
  EXPECT_EQ(c.get_int("steps"), 5);
  EXPECT_THROW(c.merge_file("/nonexistent/lucid.yaml"), ConfigError);
  EXPECT_THROW(c.merge_file(write_temp("broken.yaml", "steps: [1\n")), ConfigError);
  EXPECT_THROW(c.merge_file(write_temp("nested.yaml", "steps: {a: 1}\n")), ConfigError);
}

TEST(Config, ShippedDefaultsCarryTdmpc2Keys) {
  Config c = Config::defaults();
  // A few TD-MPC2 config.yaml keys with their official defaults (facts/tdmpc2.md §1.1).
  EXPECT_EQ(c.get_int("batch_size"), 256);
  EXPECT_DOUBLE_EQ(c.get_float("consistency_coef"), 20.0);
  EXPECT_EQ(c.get_int("num_samples"), 512);
  EXPECT_EQ(c.get_int("num_elites"), 64);
  EXPECT_EQ(c.get_int("num_pi_trajs"), 24);
  EXPECT_EQ(c.get_int("num_bins"), 101);
  EXPECT_DOUBLE_EQ(c.get_float("tau"), 0.01);
  // A dump reads back to the same values.
  Config d = Config::defaults();
  d.merge_file(write_temp("dump.yaml", c.to_yaml()));
  for (const auto& k : c.keys()) EXPECT_EQ(c.is_set(k), false) << k;
  EXPECT_EQ(d.get_string("task"), c.get_string("task"));
}

}  // namespace
}  // namespace lucid::cli

namespace lucid::cli {
namespace {
TEST(Config, ReadBackRunConfigCountsOnlyChangedKeysAsSet) {
  // A run's config.yaml lists every key; only those that differ from the defaults were chosen.
  Config trained = small_defaults();
  trained.apply_overrides({"steps=500"});
  Config back = small_defaults();
  back.merge_file(write_temp("run_config.yaml", trained.to_yaml()));
  EXPECT_TRUE(back.is_set("lr"));  // merge_file marks everything it reads
  back.unset_defaults(small_defaults());
  EXPECT_TRUE(back.is_set("steps"));
  EXPECT_FALSE(back.is_set("lr"));
  EXPECT_FALSE(back.is_set("task"));
  EXPECT_EQ(back.get_int("steps"), 500);
}
}  // namespace
}  // namespace lucid::cli

namespace lucid::cli {
namespace {
// A run folder from before the architecture keys were read lists the old, unused values of
// config.yaml; read back, they must mean the preset again, and only that exact quadruple.
TEST(Config, LegacyArchitectureValuesReadBackAsThePreset) {
  Config legacy = Config::defaults();
  legacy.apply_overrides({"model_size=1", "enc_dim=256", "mlp_dim=512", "latent_dim=512", "num_q=5"});
  read_legacy_architecture_as_preset(legacy);
  for (const char* key : {"enc_dim", "mlp_dim", "latent_dim", "num_q"})
    EXPECT_EQ(legacy.get_int(key), 0) << key;

  Config chosen = Config::defaults();
  chosen.apply_overrides({"model_size=1", "enc_dim=256", "mlp_dim=512", "latent_dim=512", "num_q=4"});
  read_legacy_architecture_as_preset(chosen);
  EXPECT_EQ(chosen.get_int("mlp_dim"), 512);
  EXPECT_EQ(chosen.get_int("num_q"), 4);
}
}  // namespace
}  // namespace lucid::cli
