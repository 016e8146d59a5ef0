// The one Boost.Test main of the suite (each tests/<folder> links it).
#define BOOST_TEST_MODULE eoslab
#include <boost/test/tree/observer.hpp>
#include <boost/test/unit_test.hpp>

#include <unistd.h>

#include <cstdlib>
#include <iostream>
#include <optional>

#include "core/blas_kernel.hpp"
#include "support/scratch.hpp"

namespace {
// The suite runs on the kernel eoslab itself would run (core/blas_kernel.hpp):
// on a CPU OpenBLAS does not know, its Prescott fallback made it ~2× slower.
const bool restarted_on_cpu_kernel = (eos::restart_with_cpu_blas_kernel(), true);

std::optional<std::filesystem::path> made_root;  // set once scratch_root() created it

// At the end of the run the scratch folder goes if no test failed. Failures
// are counted as they happen: the module's own results are summed only after
// the global fixtures' teardown.
struct RemoveScratchWhenAllPassed : boost::unit_test::test_observer {
  bool failed = false;
  void assertion_result(boost::unit_test::assertion_result r) override {
    if (r == boost::unit_test::AR_FAILED) failed = true;
  }
  void exception_caught(const boost::execution_exception&) override { failed = true; }
  void test_unit_aborted(const boost::unit_test::test_unit&) override { failed = true; }
  void test_unit_timed_out(const boost::unit_test::test_unit&) override { failed = true; }

  void setup() { boost::unit_test::framework::register_observer(*this); }
  void teardown() {
    boost::unit_test::framework::deregister_observer(*this);
    if (!made_root) return;
    if (!failed && std::getenv("EOS_KEEP_TEST_FILES") == nullptr) {
      std::error_code ec;
      std::filesystem::remove_all(*made_root, ec);
      if (ec) std::cerr << "could not remove the tests' scratch folder " << *made_root << ": " << ec.message() << "\n";
    } else {
      std::cerr << "the tests' files are kept in " << made_root->string() << "\n";
    }
  }
};
BOOST_TEST_GLOBAL_FIXTURE(RemoveScratchWhenAllPassed);
}  // namespace

namespace eos::test {

std::filesystem::path scratch_root() {
  static const std::filesystem::path root = [] {
    auto d = std::filesystem::temp_directory_path() / ("eoslab-tests-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    made_root = d;
    return d;
  }();
  return root;
}

std::filesystem::path scratch_dir(const std::string& name) {
  const auto d = scratch_root() / name;
  std::filesystem::remove_all(d);
  std::filesystem::create_directories(d);
  return d;
}

std::filesystem::path scratch_file(const std::string& name) {
  const auto p = scratch_root() / name;
  std::filesystem::create_directories(p.parent_path());
  return p;
}

}  // namespace eos::test
