// Safetensors I/O: round trip, the exact on-disk layout, atomic replacement, and refusal of
// truncated, garbage and inconsistent files with an IoError that names the problem.
#include <gtest/gtest.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "lucid/engine/safetensors.h"
#include "lucid/error.h"

namespace {

namespace fs = std::filesystem;
using lucid::IoError;
using lucid::TensorRecord;

class SafetensorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("lucid_st_" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  static std::vector<TensorRecord> sample() {
    return {TensorRecord{"w", {2, 3}, {1, 2, 3, 4, 5, 6}}, TensorRecord{"b", {3}, {-1.5f, 0.25f, 1e-20f}},
            TensorRecord{"scalar", {}, {42.0f}}, TensorRecord{"empty", {0, 4}, {}}};
  }
  static std::string read_bytes(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
  }
  static void write_bytes(const fs::path& p, const std::string& bytes) {
    std::ofstream(p, std::ios::binary | std::ios::trunc)
        .write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  }
  // A file with a hand-written header and `data_bytes` zero bytes of data.
  static std::string handmade(const std::string& json, std::size_t data_bytes) {
    std::string out(8, '\0');
    const std::uint64_t n = json.size();
    std::memcpy(out.data(), &n, 8);
    return out + json + std::string(data_bytes, '\0');
  }
  void expect_refused(const std::string& bytes, const std::string& needle) {
    const fs::path p = dir_ / "bad.safetensors";
    write_bytes(p, bytes);
    try {
      lucid::load_safetensors(p);
      ADD_FAILURE() << "accepted a bad file; expected an error mentioning '" << needle << "'";
    } catch (const IoError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  }
  fs::path dir_;
};

TEST_F(SafetensorsTest, RoundTripKeepsOrderShapesDataAndMetadata) {
  const fs::path p = dir_ / "a.safetensors";
  const std::map<std::string, std::string> meta = {{"step", "12"}, {"task", "walker-walk"}};
  lucid::save_safetensors(p, sample(), meta);
  const lucid::SafetensorsFile f = lucid::load_safetensors(p);
  const auto want = sample();
  ASSERT_EQ(f.tensors.size(), want.size());
  for (std::size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ(f.tensors[i].name, want[i].name);
    EXPECT_EQ(f.tensors[i].shape, want[i].shape);
    EXPECT_EQ(f.tensors[i].data, want[i].data);
  }
  EXPECT_EQ(f.metadata, meta);
}

// The layout other readers rely on: u64 LE header length, a JSON header padded to 8 bytes, data.
TEST_F(SafetensorsTest, OnDiskLayoutIsTheSafetensorsFormat) {
  const fs::path p = dir_ / "a.safetensors";
  lucid::save_safetensors(p, {TensorRecord{"x", {2}, {1.0f, -2.0f}}}, {});
  const std::string bytes = read_bytes(p);
  std::uint64_t n = 0;
  std::memcpy(&n, bytes.data(), 8);
  EXPECT_EQ(n % 8, 0u);
  ASSERT_EQ(bytes.size(), 8 + n + 8);
  const std::string header = bytes.substr(8, n);
  EXPECT_EQ(header.rfind(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 0), 0u) << header;
  float data[2];
  std::memcpy(data, bytes.data() + 8 + n, 8);
  EXPECT_EQ(data[0], 1.0f);
  EXPECT_EQ(data[1], -2.0f);
}

TEST_F(SafetensorsTest, ReadsFilesWithUnsortedHeaderKeys) {
  // The offsets, not the key order, decide the data order.
  const std::string json =
      R"({"z":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  std::string bytes = handmade(json, 0);
  const float vals[2] = {3.0f, 7.0f};
  bytes.append(reinterpret_cast<const char*>(vals), 8);
  write_bytes(dir_ / "u.safetensors", bytes);
  const auto f = lucid::load_safetensors(dir_ / "u.safetensors");
  ASSERT_EQ(f.tensors.size(), 2u);
  EXPECT_EQ(f.tensors[0].name, "z");
  EXPECT_EQ(f.tensors[0].data[0], 3.0f);
  EXPECT_EQ(f.tensors[1].data[0], 7.0f);
}

TEST_F(SafetensorsTest, RefusesTruncatedFilesAtEveryLength) {
  const fs::path good = dir_ / "good.safetensors";
  lucid::save_safetensors(good, sample(), {{"k", "v"}});
  const std::string bytes = read_bytes(good);
  for (std::size_t len = 0; len < bytes.size(); ++len) {
    write_bytes(dir_ / "t.safetensors", bytes.substr(0, len));
    EXPECT_THROW(lucid::load_safetensors(dir_ / "t.safetensors"), IoError) << "length " << len;
  }
  expect_refused(bytes.substr(0, bytes.size() - 3), "truncated");
}

TEST_F(SafetensorsTest, RefusesGarbageHeaders) {
  expect_refused(handmade("this is not json", 0), "not JSON");
  expect_refused(handmade("[1,2,3]", 0), "not a JSON object");
  std::string huge(8, '\xff');
  expect_refused(huge + "{}", "header length");
  expect_refused(handmade(R"({"x":{"dtype":"F32","shape":[2]}})", 8), "lacks");
  expect_refused(handmade(R"({"__metadata__":{"k":3}})", 0), "not a string");
}

TEST_F(SafetensorsTest, RefusesBadOffsetsAndDtypes) {
  expect_refused(handmade(R"({"x":{"dtype":"F16","shape":[2],"data_offsets":[0,4]}})", 4), "F32 only");
  expect_refused(handmade(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,4]}})", 4), "needs 8 bytes");
  expect_refused(handmade(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})", 8), "holes");
  expect_refused(handmade(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                          R"("y":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})",
                          8),
                 "holes or overlaps");
  expect_refused(handmade(R"({"x":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})", 4), "shape");
  expect_refused(handmade(R"({"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", 12),
                 "follow the last tensor");
  expect_refused(handmade(R"({"x":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}})", 4), "truncated");
}

TEST_F(SafetensorsTest, FailedSaveLeavesThePreviousFileAndNoDebris) {
  const fs::path p = dir_ / "ckpt.safetensors";
  lucid::save_safetensors(p, sample(), {});
  const std::string before = read_bytes(p);
  // A record whose data disagrees with its shape is refused before anything is written.
  EXPECT_THROW(lucid::save_safetensors(p, {TensorRecord{"bad", {3}, {1.0f}}}, {}), lucid::ShapeError);
  EXPECT_THROW(lucid::save_safetensors(p, {TensorRecord{"a", {}, {1}}, TensorRecord{"a", {}, {2}}}, {}),
               IoError);
  EXPECT_EQ(read_bytes(p), before);
  std::size_t files = 0;
  for (const auto& e : fs::directory_iterator(dir_)) files += e.is_regular_file();
  EXPECT_EQ(files, 1u);
  // Saving over it replaces it whole.
  lucid::save_safetensors(p, {TensorRecord{"only", {1}, {9.0f}}}, {});
  EXPECT_EQ(lucid::load_safetensors(p).tensors.size(), 1u);
}

TEST_F(SafetensorsTest, MissingFileAndUnwritableFolderAreIoErrors) {
  EXPECT_THROW(lucid::load_safetensors(dir_ / "nope.safetensors"), IoError);
  EXPECT_THROW(lucid::save_safetensors(dir_ / "no" / "such" / "dir.safetensors", sample(), {}), IoError);
}

}  // namespace
