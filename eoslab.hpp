// eoslab: one header for the whole library.
#pragma once

#include "autodiff/functional.hpp"
#include "autodiff/op.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
