// Where a test writes its files: one folder per test process,
// <temporary folder>/eoslab-tests-<pid>, removed when the process ends with
// every test passed. After a failure, or with EOS_KEEP_TEST_FILES set, it is
// kept and named on stderr (tests/support/test_main.cpp). A pid is unique
// among running processes, so two programs of the suite run side by side
// (ctest -j) never share a folder.
#pragma once

#include <filesystem>
#include <string>

namespace eos::test {

// The process's folder, created on the first call.
std::filesystem::path scratch_root();
// scratch_root()/name as an empty folder: whatever an earlier test left there is removed.
std::filesystem::path scratch_dir(const std::string& name);
// scratch_root()/name for a file; the folders above it exist, the file is not touched.
std::filesystem::path scratch_file(const std::string& name);

}  // namespace eos::test
