// Safetensors writer and validating reader (format and guarantees in lucid/engine/safetensors.h).
//
// The reader trusts nothing in the file: every size is checked against the bytes actually present
// before it is used, so a corrupt file produces an IoError, never an out-of-bounds read or a huge
// allocation.
#include "lucid/engine/safetensors.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "lucid/error.h"

namespace lucid {
namespace {

static_assert(std::endian::native == std::endian::little, "safetensors data is little-endian");

// The reference implementation refuses headers above 100 MB; so do we, before allocating.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

std::string errno_text() { return std::strerror(errno); }

void write_all(int fd, const void* data, std::size_t n, const std::filesystem::path& tmp) {
  const char* p = static_cast<const char*>(data);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    LUCID_CHECK_AS(w > 0, IoError) << "writing " << tmp << " failed: " << errno_text();
    p += w;
    n -= static_cast<std::size_t>(w);
  }
}

// Closes and removes the temporary file unless released, so a failed save leaves no debris.
class TempFile {
 public:
  explicit TempFile(std::filesystem::path path) : path_(std::move(path)) {
    fd_ = ::open(path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    LUCID_CHECK_AS(fd_ >= 0, IoError) << "cannot create " << path_ << ": " << errno_text();
  }
  ~TempFile() {
    if (fd_ >= 0) ::close(fd_);
    if (!committed_) ::unlink(path_.c_str());
  }
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  int fd() const { return fd_; }
  void close_synced() {
    LUCID_CHECK_AS(::fsync(fd_) == 0, IoError) << "fsync " << path_ << " failed: " << errno_text();
    const int rc = ::close(fd_);
    fd_ = -1;
    LUCID_CHECK_AS(rc == 0, IoError) << "close " << path_ << " failed: " << errno_text();
  }
  void rename_to(const std::filesystem::path& dest) {
    LUCID_CHECK_AS(::rename(path_.c_str(), dest.c_str()) == 0, IoError)
        << "rename " << path_ << " -> " << dest << " failed: " << errno_text();
    committed_ = true;
  }

 private:
  std::filesystem::path path_;
  int fd_ = -1;
  bool committed_ = false;
};

std::int64_t numel_of(const std::vector<std::int64_t>& shape) {
  std::int64_t n = 1;
  for (std::int64_t d : shape) n *= d;
  return n;
}

std::string shape_text(const std::vector<std::int64_t>& shape) {
  std::string s = "[";
  for (std::size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

}  // namespace

void save_safetensors(const std::filesystem::path& path, const std::vector<TensorRecord>& tensors,
                      const std::map<std::string, std::string>& metadata) {
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::uint64_t offset = 0;
  for (const TensorRecord& t : tensors) {
    LUCID_CHECK_AS(!t.name.empty() && t.name != "__metadata__", IoError)
        << "safetensors tensor name '" << t.name << "' is reserved or empty";
    LUCID_CHECK_AS(!header.contains(t.name), IoError) << "duplicate tensor name '" << t.name << "'";
    for (std::int64_t d : t.shape)
      LUCID_CHECK_SHAPE(d >= 0) << t.name << " has shape " << shape_text(t.shape);
    LUCID_CHECK_SHAPE(static_cast<std::size_t>(numel_of(t.shape)) == t.data.size())
        << t.name << ": shape " << shape_text(t.shape) << " needs " << numel_of(t.shape) << " floats, got "
        << t.data.size();
    const std::uint64_t bytes = t.data.size() * sizeof(float);
    header[t.name] = {{"dtype", "F32"}, {"shape", t.shape}, {"data_offsets", {offset, offset + bytes}}};
    offset += bytes;
  }
  std::string text = header.dump();
  text.append((8 - text.size() % 8) % 8, ' ');  // keeps the data block 8-byte aligned
  const std::uint64_t header_len = text.size();

  const std::filesystem::path dir = path.has_parent_path() ? path.parent_path() : std::filesystem::path(".");
  TempFile tmp(dir / ("." + path.filename().string() + ".tmp." + std::to_string(::getpid())));
  write_all(tmp.fd(), &header_len, sizeof(header_len), path);
  write_all(tmp.fd(), text.data(), text.size(), path);
  for (const TensorRecord& t : tensors)
    write_all(tmp.fd(), t.data.data(), t.data.size() * sizeof(float), path);
  tmp.close_synced();
  tmp.rename_to(path);
  // Make the rename itself durable; failing to open the folder only weakens durability, not
  // correctness, so it is not an error.
  const int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);
    ::close(dfd);
  }
}

SafetensorsFile load_safetensors(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  LUCID_CHECK_AS(in.good(), IoError) << "cannot open " << path << ": " << errno_text();
  in.seekg(0, std::ios::end);
  const std::uint64_t file_size = static_cast<std::uint64_t>(in.tellg());
  in.seekg(0);
  LUCID_CHECK_AS(file_size >= 8, IoError)
      << path << " is truncated: " << file_size << " bytes, not even a header length";
  std::uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  LUCID_CHECK_AS(header_len <= kMaxHeaderBytes, IoError)
      << path << " is corrupt: header length " << header_len << " exceeds " << kMaxHeaderBytes;
  LUCID_CHECK_AS(header_len <= file_size - 8, IoError)
      << path << " is truncated: header needs " << header_len << " bytes, file has " << file_size - 8
      << " after the length";
  std::string text(header_len, '\0');
  in.read(text.data(), static_cast<std::streamsize>(header_len));
  LUCID_CHECK_AS(in.good(), IoError) << "reading the header of " << path << " failed";

  nlohmann::json header;
  try {
    header = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    LUCID_FAIL(IoError) << path << " is corrupt: header is not JSON (" << e.what() << ")";
  }
  LUCID_CHECK_AS(header.is_object(), IoError) << path << " is corrupt: header is not a JSON object";

  SafetensorsFile out;
  struct Entry {
    std::uint64_t begin, end;
    TensorRecord record;
  };
  std::vector<Entry> entries;
  for (auto it = header.begin(); it != header.end(); ++it) {
    const std::string& name = it.key();
    const nlohmann::json& v = it.value();
    if (name == "__metadata__") {
      LUCID_CHECK_AS(v.is_object(), IoError) << path << " is corrupt: __metadata__ is not an object";
      for (auto m = v.begin(); m != v.end(); ++m) {
        LUCID_CHECK_AS(m.value().is_string(), IoError)
            << path << " is corrupt: metadata '" << m.key() << "' is not a string";
        out.metadata[m.key()] = m.value().get<std::string>();
      }
      continue;
    }
    LUCID_CHECK_AS(v.is_object() && v.contains("dtype") && v.contains("shape") && v.contains("data_offsets"),
                   IoError)
        << path << " is corrupt: tensor '" << name << "' lacks dtype/shape/data_offsets";
    LUCID_CHECK_AS(v["dtype"] == "F32", IoError)
        << path << ": tensor '" << name << "' has dtype " << v["dtype"].dump() << "; lucid reads F32 only";
    const nlohmann::json& shape = v["shape"];
    const nlohmann::json& offs = v["data_offsets"];
    LUCID_CHECK_AS(shape.is_array() && offs.is_array() && offs.size() == 2 && offs[0].is_number_unsigned() &&
                       offs[1].is_number_unsigned(),
                   IoError)
        << path << " is corrupt: tensor '" << name << "' has a malformed shape or data_offsets";
    Entry e{offs[0].get<std::uint64_t>(), offs[1].get<std::uint64_t>(), TensorRecord{name, {}, {}}};
    std::uint64_t numel = 1;
    for (const nlohmann::json& d : shape) {
      LUCID_CHECK_AS(d.is_number_unsigned() && d.get<std::uint64_t>() < (1ull << 40), IoError)
          << path << " is corrupt: tensor '" << name << "' has shape " << shape.dump();
      e.record.shape.push_back(d.get<std::int64_t>());
      numel *= d.get<std::uint64_t>();
      LUCID_CHECK_AS(numel < (1ull << 40), IoError)
          << path << " is corrupt: tensor '" << name << "' is too large";
    }
    LUCID_CHECK_AS(e.begin <= e.end && e.end - e.begin == numel * sizeof(float), IoError)
        << path << " is corrupt: tensor '" << name << "' of shape " << shape.dump() << " needs " << numel * 4
        << " bytes, data_offsets " << offs.dump() << " span " << (e.end >= e.begin ? e.end - e.begin : 0);
    entries.push_back(std::move(e));
  }

  std::sort(entries.begin(), entries.end(), [](const Entry& a, const Entry& b) { return a.begin < b.begin; });
  std::uint64_t expected = 0;
  for (const Entry& e : entries) {
    LUCID_CHECK_AS(e.begin == expected, IoError)
        << path << " is corrupt: tensor '" << e.record.name << "' starts at byte " << e.begin
        << " of the data, expected " << expected << " (tensors must tile the data without holes or overlaps)";
    expected = e.end;
  }
  const std::uint64_t data_size = file_size - 8 - header_len;
  LUCID_CHECK_AS(data_size >= expected, IoError) << path << " is truncated: the header describes " << expected
                                                 << " data bytes, the file holds " << data_size;
  LUCID_CHECK_AS(data_size == expected, IoError)
      << path << " is corrupt: " << data_size - expected << " bytes follow the last tensor";

  for (Entry& e : entries) {
    e.record.data.resize((e.end - e.begin) / sizeof(float));
    in.read(reinterpret_cast<char*>(e.record.data.data()), static_cast<std::streamsize>(e.end - e.begin));
    LUCID_CHECK_AS(in.good(), IoError) << "reading tensor '" << e.record.name << "' of " << path << " failed";
    out.tensors.push_back(std::move(e.record));
  }
  return out;
}

}  // namespace lucid
