// Running the `eoslab` executable from a test: its output and exit code,
// scratch directories, files read back.
#pragma once

#include <signal.h>

#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <boost/test/unit_test.hpp>
#include <nlohmann/json.hpp>

#include "support/scratch.hpp"

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

// A folder for one test's run: not there yet (the test or eoslab creates it).
inline fs::path scratch(const std::string& name) {
  const fs::path d = eos::test::scratch_root() / name;
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


// Starts ARGV (the program first) with its output discarded and the
// environment entries NAME=VALUE added; returns its pid.
inline pid_t spawn_program(const std::vector<std::string>& argv, const std::vector<std::string>& env = {}) {
  std::vector<std::string> all = argv, vars = env;
  std::fflush(nullptr);  // or the child flushes our buffered output as its own
  const pid_t pid = ::fork();
  if (pid == 0) {
    std::freopen("/dev/null", "w", stdout);
    std::freopen("/dev/null", "w", stderr);
    for (auto& v : vars) ::putenv(v.data());
    std::vector<char*> args;
    for (auto& a : all) args.push_back(a.data());
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    ::_exit(127);
  }
  return pid;
}

// `eoslab ARGS` in the background.
inline pid_t spawn(const std::vector<std::string>& args) {
  std::vector<std::string> all = {EOSLAB_EXE};
  all.insert(all.end(), args.begin(), args.end());
  return spawn_program(all);
}

// How pid ended, as a shell says it: its exit code, or 128 + the signal that ended it.
inline int wait_exit(pid_t pid) {
  int status = 0;
  ::waitpid(pid, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

// Waits (at most `limit`) for `file` to exist; whether it does.
inline bool wait_for_file(const fs::path& file, pid_t pid, std::chrono::seconds limit = std::chrono::seconds(120)) {
  const auto until = std::chrono::steady_clock::now() + limit;
  while (!fs::exists(file)) {
    int status = 0;
    if (std::chrono::steady_clock::now() > until || ::waitpid(pid, &status, WNOHANG) == pid) return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return true;
}

// Sends `sig` to a started run once `file` exists; returns how the run ended.
inline int stop_when(pid_t pid, const fs::path& file, int sig) {
  const bool there = wait_for_file(file, pid);
  BOOST_TEST(there, file << " never appeared (or the run ended first)");
  ::kill(pid, sig);
  return wait_exit(pid);
}

// Every file under `dir` and its bytes ("<dir>" for a directory), by path
// relative to `dir`: two snapshots are equal when nothing was touched.
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  if (!fs::exists(dir)) return files;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    const std::string rel = fs::relative(e.path(), dir).string();
    if (e.is_directory()) files[rel] = "<dir>";
    else if (!e.is_regular_file()) files[rel] = "<not a regular file>";  // a FIFO is not opened
    else {
      std::ifstream in(e.path(), std::ios::binary);
      files[rel] = std::string(std::istreambuf_iterator<char>(in), {});
    }
  }
  return files;
}

inline bool mentions(const Ran& r, const std::string& text) { return r.output.find(text) != std::string::npos; }
