// Small file helpers shared by `lucid report` and `lucid suite`.
//
// Result files are never written in place: write_text_atomic writes <path>.tmp.<pid> next to the
// target, flushes it, and renames it over the target, so a reader (or a crash) sees either the old
// or the new file, never half of one. Throws lucid::IoError with the path on any failure.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace lucid::report {

void write_text_atomic(const std::filesystem::path& path, const std::string& content);
// Whole file as a string; std::nullopt when the file does not exist or cannot be opened.
std::optional<std::string> read_text(const std::filesystem::path& path);
// Splits on `sep`, keeping empty fields.
std::vector<std::string> split(const std::string& s, char sep);
// Formats a double with up to `digits` significant digits, no trailing zeros ("0.5", "123.25").
std::string fmt(double v, int digits = 6);
// Minimal escaping for text placed inside XML/HTML (&, <, >, ").
std::string xml_escape(const std::string& s);

}  // namespace lucid::report
