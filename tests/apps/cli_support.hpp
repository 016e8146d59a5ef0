// Running the `eoslab` executable from a test: its output and exit code,
// scratch directories, files read back.
#pragma once

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

namespace fs = std::filesystem;

inline std::string quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

struct Ran {
  int code = -1;
  std::string output;  // stdout and stderr together
};

inline Ran eoslab(const std::vector<std::string>& args, const std::string& env = "") {
  std::string cmd = env + (env.empty() ? "" : " ") + quote(EOSLAB_EXE);
  for (const auto& a : args) cmd += " " + quote(a);
  cmd += " 2>&1";
  Ran r;
  std::FILE* p = ::popen(cmd.c_str(), "r");
  BOOST_REQUIRE(p);
  char buf[4096];
  while (std::size_t n = std::fread(buf, 1, sizeof buf, p)) r.output.append(buf, n);
  const int status = ::pclose(p);
  r.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

inline fs::path scratch(const std::string& name) {
  const fs::path d = fs::temp_directory_path() / ("eoslab_cli_test_" + std::to_string(::getpid())) / name;
  fs::remove_all(d);
  fs::create_directories(d.parent_path());
  return d;
}

inline nlohmann::json read_json(const fs::path& p) {
  std::ifstream in(p);
  BOOST_REQUIRE_MESSAGE(in, p.string() + " missing");
  return nlohmann::json::parse(in);
}

inline std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

