// Moved to core/npy.hpp (the core floor under autodiff) in eoslab 0.2; this
// forwarding header is kept for one release and goes in 0.3.
#pragma once

#include "../core/npy.hpp"
