#include "folder.hpp"

#include <fcntl.h>
#include <fnmatch.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <fstream>

#include <fmt/format.h>

#include "run.hpp"

namespace eos::cli {

namespace {

constexpr const char* kList = "eoslab-files.json";
constexpr const char* kListFormat = "eoslab-folder/1";
constexpr const char* kLock = "eoslab.lock";

std::string read_text(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Who holds the lock, from eoslab.lock ("pid 123, started … : eoslab train …").
std::string lock_owner(const fs::path& dir) {
  try {
    const auto j = nlohmann::json::parse(read_text(dir / kLock));
    return fmt::format("pid {}, started {}: {}", j.at("pid").get<long>(), j.at("started").get<std::string>(),
                       j.value("command", "?"));
  } catch (const std::exception&) {
    return "pid unknown: it has not written eoslab.lock yet";
  }
}

std::string now_utc() {
  const std::time_t t = std::time(nullptr);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", std::gmtime(&t));
  return buf;
}

// A pattern "sub/dir/glob" → (the folder it looks in, the glob).
std::pair<fs::path, std::string> split_pattern(const fs::path& dir, const std::string& pattern) {
  const fs::path p(pattern);
  return {dir / p.parent_path(), p.filename().string()};
}

// The regular files in `where` whose name matches `glob`.
std::vector<fs::path> matches(const fs::path& where, const std::string& glob) {
  std::vector<fs::path> out;
  std::error_code ec;
  if (!fs::is_directory(where, ec)) return out;
  for (const auto& e : fs::directory_iterator(where, ec))
    if (e.is_regular_file() && ::fnmatch(glob.c_str(), e.path().filename().c_str(), 0) == 0) out.push_back(e.path());
  return out;
}

// What the command would write that is there already (a folder eoslab did not write).
std::vector<std::string> present(const fs::path& dir, const FolderContents& c) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& f : c.files)
    if (fs::exists(dir / f, ec)) out.push_back(f);
  for (const auto& pattern : c.patterns) {
    const auto [where, glob] = split_pattern(dir, pattern);
    for (const auto& m : matches(where, glob)) out.push_back(fs::relative(m, dir).string());
  }
  return out;
}

}  // namespace

nlohmann::json RunFolder::list_of(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_regular_file(dir / kList, ec)) return nullptr;
  try {
    auto j = nlohmann::json::parse(read_text(dir / kList));
    if (j.is_object() && j.value("format", "") == kListFormat) return j;
  } catch (const std::exception&) {
  }
  throw UsageError(fmt::format("{}: not a list of eoslab's files (damaged?); eoslab will not guess which files there "
                               "are its own: move the folder's contents away or choose another --out",
                               (dir / kList).string()));
}

std::size_t RunFolder::remove_listed(const fs::path& dir) {
  const nlohmann::json list = list_of(dir);
  if (list.is_null()) return 0;
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& f : list.value("files", nlohmann::json::array())) {
    const fs::path p = dir / f.get<std::string>();
    if (p.filename() == kList) continue;  // last
    if (fs::is_regular_file(p, ec) && fs::remove(p, ec)) ++removed;
  }
  std::vector<fs::path> subdirs;
  for (const auto& pattern : list.value("patterns", nlohmann::json::array())) {
    const auto [where, glob] = split_pattern(dir, pattern.get<std::string>());
    for (const auto& m : matches(where, glob))
      if (fs::remove(m, ec)) ++removed;
    if (where != dir) subdirs.push_back(where);
  }
  for (const auto& nested : list.value("folders", nlohmann::json::array())) {
    const fs::path sub = dir / nested.get<std::string>();
    removed += remove_listed(sub);
    subdirs.push_back(sub);
  }
  for (const auto& sub : subdirs)
    if (fs::is_directory(sub, ec) && fs::is_empty(sub, ec)) fs::remove(sub, ec);  // only when nothing else is in it
  if (fs::remove(dir / kList, ec)) ++removed;
  return removed;
}

RunFolder::RunFolder(fs::path dir, Mode mode, FolderContents contents, std::string command)
    : dir_(std::move(dir)), mode_(mode), contents_(std::move(contents)), command_(std::move(command)) {
  const std::string name = dir_.string();
  if (!valid_utf8(name))
    throw UsageError(fmt::format("--out {}: the path is not valid UTF-8 (eoslab records it in JSON files)", quote_input(name)));
  std::error_code ec;
  if (!fs::exists(dir_, ec)) {
    if (mode_ == Mode::Continue) throw UsageError(fmt::format("--resume {}: no such directory", name));
    return;
  }
  if (!fs::is_directory(dir_, ec)) throw UsageError(fmt::format("--out {}: exists and is not a directory", name));
  check_not_locked();
  previous_ = list_of(dir_);
  const std::string kind = contents_.kind;
  if (!previous_.is_null() && previous_.value("kind", "") != kind && mode_ != Mode::Fresh)
    throw UsageError(fmt::format("--out {}: holds {} `{}`, not {}: eoslab will not replace it with this command",
                                 name, previous_.value("kind", "?") == "train" ? "the run" : "the analysis",
                                 previous_.value("command", "?"), kind == "train" ? "a run" : "an analysis"));
  if (mode_ == Mode::Fresh && !previous_.is_null()) {
    const bool run = previous_.value("kind", "") == "train";
    throw UsageError(fmt::format(
        "--out {}: holds {} `{}` (listed in {}/{}): {}replace it with --force (removes the files eoslab wrote there "
        "and nothing else), or choose another --out",
        name, run ? "the run" : "the analysis", previous_.value("command", "?"), name, kList,
        run ? fmt::format("continue a killed or stopped run with `eoslab train --resume {}`, ", name) : ""));
  }
  if (previous_.is_null() && mode_ != Mode::Continue) {
    const auto there = present(dir_, contents_);
    if (!there.empty())
      throw UsageError(fmt::format("--out {}: already holds {}{}, which eoslab did not write there (no {}): move {} "
                                   "away or choose another --out",
                                   name, there.front(), there.size() > 1 ? fmt::format(" and {} more", there.size() - 1) : "",
                                   kList, there.size() > 1 ? "them" : "it"));
  }
}

RunFolder::~RunFolder() {
  if (lock_fd_ >= 0) ::close(lock_fd_);  // releases the flock
}

void RunFolder::check_not_locked() const {
  const int fd = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return;  // unreadable: claim() says so
  const bool held = ::flock(fd, LOCK_EX | LOCK_NB) != 0 && errno == EWOULDBLOCK;
  ::close(fd);  // a probe: releases it at once
  if (held)
    throw UsageError(fmt::format("--out {}: in use by another eoslab process ({}); wait for it to end, or choose "
                                 "another --out",
                                 dir_.string(), lock_owner(dir_)));
}

void RunFolder::claim() {
  const std::string name = dir_.string();
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec || !fs::is_directory(dir_)) throw UsageError(fmt::format("--out {}: cannot create the directory ({})", name, ec.message()));
  lock_fd_ = ::open(dir_.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (lock_fd_ < 0) throw UsageError(fmt::format("--out {}: cannot open the directory ({})", name, std::strerror(errno)));
  if (::flock(lock_fd_, LOCK_EX | LOCK_NB) != 0)
    throw UsageError(fmt::format("--out {}: in use by another eoslab process ({}); wait for it to end, or choose "
                                 "another --out",
                                 name, lock_owner(dir_)));
  if (mode_ == Mode::Replace && !previous_.is_null()) remove_listed(dir_);
  FolderContents all = contents_;
  for (const char* own : {kList, kLock}) all.files.push_back(own);
  if (mode_ == Mode::Continue && !previous_.is_null()) {  // the union: nothing the earlier part wrote is forgotten
    auto merge = [](std::vector<std::string>& into, const nlohmann::json& from) {
      for (const auto& x : from) {
        const std::string s = x.get<std::string>();
        if (std::find(into.begin(), into.end(), s) == into.end()) into.push_back(s);
      }
    };
    merge(all.files, previous_.value("files", nlohmann::json::array()));
    merge(all.patterns, previous_.value("patterns", nlohmann::json::array()));
    merge(all.folders, previous_.value("folders", nlohmann::json::array()));
  }
  // Every atomically written file passes through FILE.tmp: listed too.
  auto with_tmp = [](std::vector<std::string>& v) {
    const std::size_t n = v.size();
    for (std::size_t i = 0; i < n; ++i) {
      const std::string t = v[i] + ".tmp";
      if (!v[i].ends_with(".tmp") && std::find(v.begin(), v.end(), t) == v.end()) v.push_back(t);
    }
  };
  with_tmp(all.files);
  with_tmp(all.patterns);
  const nlohmann::json list = {{"format", kListFormat}, {"kind", all.kind}, {"command", command_},
                               {"files", all.files},    {"patterns", all.patterns}, {"folders", all.folders}};
  const nlohmann::json lock = {{"pid", long(::getpid())}, {"started", now_utc()}, {"command", command_}};
  try {
    write_file_atomically((dir_ / kList).string(), list.dump(2) + "\n");
    write_file_atomically((dir_ / kLock).string(), lock.dump(2) + "\n");
  } catch (const std::exception& e) {
    throw UsageError(fmt::format("--out {}: cannot write into it ({})", name, e.what()));
  }
}

}  // namespace eos::cli
