// What every fuzz target shares. A target feeds the input to one parser;
// a clean rejection (an exception naming the problem) is a pass. Findings
// are what libFuzzer and the sanitizers report: a crash, undefined
// behaviour, a leak, a hang (-timeout), or memory past -rss_limit_mb /
// -malloc_limit_mb (scripts/fuzz.sh sets both, so a parser that commits
// memory an input only claims to need is a finding).
#pragma once

#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <new>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>

namespace eos::fuzz {

// The file parsers read paths: the input goes to a file in a folder private
// to this process, removed when the process exits normally (a finding ends
// it abnormally; libFuzzer keeps the input that caused it on its own).
class ProcessFolder {
 public:
  ProcessFolder() : path_(std::filesystem::temp_directory_path() / ("eoslab-fuzz-" + std::to_string(::getpid()))) {
    std::filesystem::create_directories(path_);
  }
  ~ProcessFolder() {
    std::error_code ignored;
    std::filesystem::remove_all(path_, ignored);
  }
  ProcessFolder(const ProcessFolder&) = delete;
  ProcessFolder& operator=(const ProcessFolder&) = delete;
  const std::filesystem::path& path() const { return path_; }

 private:
  std::filesystem::path path_;
};

inline std::string as_file(const std::uint8_t* data, std::size_t size, const std::string& name = "input") {
  static const ProcessFolder dir;
  const std::string path = (dir.path() / name).string();
  std::ofstream(path, std::ios::binary | std::ios::trunc).write(reinterpret_cast<const char*>(data), std::streamsize(size));
  return path;
}

inline std::string_view as_text(const std::uint8_t* data, std::size_t size) {
  return {reinterpret_cast<const char*>(data), size};
}

// Runs f; an exception derived from std::exception is a clean rejection,
// except bad_alloc: memory the input asked for and did not get is a finding.
template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception&) {
  }
}

}  // namespace eos::fuzz
