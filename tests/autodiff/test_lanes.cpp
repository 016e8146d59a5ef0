// core/lanes.hpp: every lane runs once per run, at the same time; a failure
// in any lane is rethrown after all have finished, and the lanes run again
// afterwards; BLAS is single-threaded inside a run and restored after it.
#include <atomic>
#include <stdexcept>
#include <thread>

#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;

BOOST_AUTO_TEST_SUITE(lanes)

BOOST_AUTO_TEST_CASE(every_lane_runs_once_per_run_and_they_run_at_once) {
  for (std::size_t count : {1u, 2u, 3u}) {
    Lanes lanes(count);
    BOOST_TEST(lanes.count() == count);
    for (int run = 0; run < 20; ++run) {
      std::vector<int> ran(count, 0);
      std::atomic<std::size_t> arrived{0};
      lanes.run([&](std::size_t lane) {
        ++ran.at(lane);
        ++arrived;
        // Every lane waits for all the others: only lanes that run at once get past this.
        while (arrived.load() < count) std::this_thread::yield();
      });
      BOOST_TEST(ran == std::vector<int>(count, 1), "run " << run);
    }
  }
  BOOST_CHECK_THROW(Lanes(0), std::invalid_argument);
}

BOOST_AUTO_TEST_CASE(a_failing_lane_is_rethrown_after_all_finished_and_the_lanes_run_again) {
  Lanes lanes(3);
  std::atomic<int> finished{0};
  try {
    lanes.run([&](std::size_t lane) {
      if (lane == 2) throw std::runtime_error("lane 2 failed");
      ++finished;
    });
    BOOST_FAIL("no exception");
  } catch (const std::runtime_error& e) {
    BOOST_TEST(std::string(e.what()) == "lane 2 failed");
  }
  BOOST_TEST(finished.load() == 2);
  std::atomic<int> again{0};
  lanes.run([&](std::size_t) { ++again; });
  BOOST_TEST(again.load() == 3, "the failure does not linger into the next run");
}

BOOST_AUTO_TEST_CASE(blas_is_single_threaded_inside_a_run_and_restored_after) {
  const std::size_t before = blas_threads();
  if (before == 0) {
    BOOST_TEST_MESSAGE("skipped: the BLAS is not OpenBLAS (no openblas_get_num_threads)");
    return;
  }
  set_blas_threads(2);
  Lanes lanes(2);
  std::vector<std::size_t> inside(2, 0);
  lanes.run([&](std::size_t lane) { inside[lane] = blas_threads(); });
  BOOST_TEST(inside == std::vector<std::size_t>({1, 1}));
  BOOST_TEST(blas_threads() == 2u);
  set_blas_threads(before);
}

BOOST_AUTO_TEST_SUITE_END()
