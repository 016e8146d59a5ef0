// Installed as <prefix>/include/eoslab.hpp: lets consumers write #include <eoslab.hpp>.
#pragma once
#include "eoslab/eoslab.hpp"
