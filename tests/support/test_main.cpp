// The one Boost.Test main of the suite (each tests/<folder> links it).
#define BOOST_TEST_MODULE eoslab
#include <boost/test/unit_test.hpp>
