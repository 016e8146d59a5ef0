// ObjectiveSpec JSON: the manifest rebuilds the very objective a trajectory
// was recorded with, so a damaged spec must be an error naming the field,
// never a silent default (issue 9's probe).
#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;

namespace {
std::string error_of(const std::string& json) {
  try {
    nn::ObjectiveSpec::from_json(json);
  } catch (const std::invalid_argument& e) {
    return e.what();
  }
  return "no error";
}
}  // namespace

BOOST_AUTO_TEST_SUITE(objective_spec)

BOOST_AUTO_TEST_CASE(round_trip) {
  nn::ObjectiveSpec s;
  s.data.source = "gaussian_clusters";
  s.data.n = 123;
  s.data.dim = 7;
  s.data.classes = 3;
  s.data.separation = 2.5;
  s.data.seed = 18446744073709551615ull;
  s.hidden = {5, 6};
  s.activation = "relu";
  s.weight_decay = 1e-4;
  s.init_seed = 9;
  const nn::ObjectiveSpec r = nn::ObjectiveSpec::from_json(s.to_json());
  BOOST_TEST(r.to_json() == s.to_json());
  BOOST_TEST(r.data.seed == s.data.seed);
}

BOOST_AUTO_TEST_CASE(damaged_specs_name_the_field) {
  BOOST_TEST(error_of(R"("fashion-mnist")").find("spec must be a JSON object, got \"fashion-mnist\"") != std::string::npos);
  BOOST_TEST(error_of("[1, 2]").find("spec must be a JSON object") != std::string::npos);
  BOOST_TEST(error_of(R"({"hiden": [10]})").find("unknown field 'spec.hiden'") != std::string::npos);
  BOOST_TEST(error_of(R"({"data": {"nn": 5}})").find("unknown field 'data.nn'") != std::string::npos);
  BOOST_TEST(error_of(R"({"data": [5]})").find("data must be a JSON object") != std::string::npos);
  BOOST_TEST(error_of(R"({"data": {"n": -5}})").find("field 'data.n' = -5: expected a non-negative integer") !=
             std::string::npos);
  BOOST_TEST(error_of(R"({"data": {"n": 2.5}})").find("field 'data.n' = 2.5: expected a non-negative integer") !=
             std::string::npos);
  BOOST_TEST(error_of(R"({"hidden": [10, -1]})").find("field 'spec.hidden' = -1") != std::string::npos);
  BOOST_TEST(error_of(R"({"hidden": 10})").find("expected an array of non-negative integers") != std::string::npos);
  BOOST_TEST(error_of(R"({"bias": "yes"})").find("field 'spec.bias' = \"yes\": expected true or false") !=
             std::string::npos);
  BOOST_TEST(error_of(R"({"loss": 3})").find("field 'spec.loss' = 3: expected a string") != std::string::npos);
  BOOST_TEST(error_of(R"({"weight_decay": "0.1"})").find("expected a finite number") != std::string::npos);
  BOOST_TEST(error_of("{not json").find("not valid JSON") != std::string::npos);
}

// The pre-run memory estimate: a linearization held for HVPs keeps every
// row's tape, and float32 products add float32 copies of its values and
// adjoints (two 4-byte numbers per node and row).
BOOST_AUTO_TEST_CASE(the_memory_estimate_counts_the_linearization_and_its_float32_copies) {
  nn::ObjectiveSpec s;
  s.hidden = {200, 200};
  const std::size_t n = 5000, dim = 784;
  const auto plain = nn::estimate_memory(s, n, dim, 10, false);
  const auto linearized = nn::estimate_memory(s, n, dim, 10, true);
  const auto mixed = nn::estimate_memory(s, n, dim, 10, true, true);
  const double nodes = 2 * 200 + 2 * 200 + 3 * 10;  // each Linear's and activation's output, the loss's three
  BOOST_TEST(plain.parameters == 784.0 * 200 + 200 + 200 * 200 + 200 + 200 * 10 + 10);
  BOOST_TEST(linearized.tapes - plain.tapes == double(n) * nodes * 5 * 8);
  BOOST_TEST(mixed.tapes - linearized.tapes == double(n) * nodes * 2 * 4);
  BOOST_TEST(nn::estimate_memory(s, n, dim, 10, false, true).tapes == plain.tapes);  // no linearization: no copies
}

BOOST_AUTO_TEST_SUITE_END()
