// eoslab: one header for the whole library.
#pragma once

#include "autodiff/functional.hpp"
#include "autodiff/op.hpp"
#include "autodiff/ops.hpp"
#include "autodiff/tape.hpp"
#include "autodiff/tensor.hpp"
#include "autodiff/npy.hpp"
#include "autodiff/objective.hpp"
#include "autodiff/random.hpp"
#include "datasets/dataset.hpp"
#include "datasets/loaders.hpp"
#include "datasets/synthetic.hpp"
#include "datasets/transforms.hpp"
#include "nn/init.hpp"
#include "nn/module.hpp"
#include "nn/objective.hpp"
#include "optim/optimizer.hpp"
