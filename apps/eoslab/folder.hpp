// A run owns its folder. Each folder eoslab writes holds eoslab-files.json:
// what wrote it (a train run or an analysis, and its command) and every file
// and file pattern it may write there, recorded before the first of them is
// written. With that list:
//   - a command refuses a folder that holds another run (exit 2, nothing
//     written) unless it resumes that run, or --force replaces it;
//   - --force removes the files the list names, and nothing else; nested
//     eoslab folders it names (analysis/) by their own lists;
//   - a folder without a list is written into only where none of the files
//     the command would write exists already (they are someone else's).
// While a run writes, it holds a lock on the folder (flock on the directory,
// released by the kernel when the process ends, even by kill -9); a second
// command into the same folder is refused with the first's PID and start
// time, read from eoslab.lock.
//
// RunFolder checks everything when it is made and writes nothing; the
// FolderSink, the first sink of a run, takes the lock and writes the list
// (and removes what --force replaces) in begin(), after every other sink
// and the resume checks have passed.
#pragma once

#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include <eoslab.hpp>

namespace eos::cli {

namespace fs = std::filesystem;

// What a folder will hold: files, and patterns "sub/dir/glob*" (one level).
struct FolderContents {
  std::string kind;                    // "train" | "analysis"
  std::vector<std::string> files;      // relative to the folder
  std::vector<std::string> patterns;   // relative, the last part a glob (fnmatch)
  std::vector<std::string> folders;    // nested eoslab folders (their own lists)
};

class RunFolder {
 public:
  enum class Mode {
    Fresh,     // a new run: the folder must not hold another
    Replace,   // --force, or a run started over in its own folder: the earlier run's files go first
    Continue,  // --resume: the folder holds this very run
  };
  // Checks, writing nothing: UsageError (exit 2) naming the folder and why.
  RunFolder(fs::path dir, Mode mode, FolderContents contents, std::string command);
  RunFolder(const RunFolder&) = delete;
  RunFolder& operator=(const RunFolder&) = delete;
  ~RunFolder();  // releases the lock
  // Creates the folder, takes the lock (UsageError if another process holds
  // it), removes what Replace replaces, and records the contents.
  void claim();
  const fs::path& dir() const { return dir_; }

  // The list in `dir`, or null when there is none (not written by eoslab).
  static nlohmann::json list_of(const fs::path& dir);
  // Removes what the list of `dir` names (files, pattern matches, nested
  // folders by their lists) and nothing else; returns how many files went.
  static std::size_t remove_listed(const fs::path& dir);

 private:
  void check_not_locked() const;
  fs::path dir_;
  Mode mode_;
  FolderContents contents_;
  std::string command_;
  nlohmann::json previous_;  // the earlier run's list (Replace, Continue)
  int lock_fd_ = -1;
};

// The folder's sink: claims it in begin(), after all sinks have checked,
// then calls `then` (the command line writes its command files there).
class FolderSink : public analysis::RunSink {
 public:
  FolderSink(RunFolder& folder, std::function<void()> then = {}) : folder_(folder), then_(std::move(then)) {}
  void begin(analysis::RunStart&) override {
    folder_.claim();
    if (then_) then_();
  }

 private:
  RunFolder& folder_;
  std::function<void()> then_;
};

}  // namespace eos::cli
