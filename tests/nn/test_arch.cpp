// The layer grammar and the architectures by name: parameter counts against
// PyTorch's for the same definitions, inferred sizes, and errors that name
// the layer and what was expected.
#include <eoslab.hpp>

#include "support/check.hpp"

using namespace eos;

BOOST_AUTO_TEST_SUITE(arch)

// Counts of sum(p.numel() for p in net.parameters()) for Cohen et al.'s
// definitions (src/archs.py, src/vgg.py), computed by hand from the layers.
BOOST_AUTO_TEST_CASE(architectures_have_pytorchs_parameter_counts) {
  const auto count = [](const std::string& arch, const Shape& input) {
    return nn::parse_model(nn::arch_model(arch, 10), input)->num_params();
  };
  // conv 1→32: 288 + 32; conv 32→32: 9216 + 32; Linear(32·7·7, 10): 15680 + 10
  BOOST_TEST(count("cnn-relu", {1, 28, 28}) == 25258u);
  BOOST_TEST(count("cnn-avgpool-tanh", {1, 28, 28}) == 25258u);
  // on CIFAR-10: conv 3→32 is 864 + 32, Linear(32·8·8, 10) 20480 + 10
  BOOST_TEST(count("cnn-elu", {3, 32, 32}) == 30634u);
  // 784·200 + 200 + 200·200 + 200 + 200·10 + 10
  BOOST_TEST(count("fc-tanh", {1, 28, 28}) == 199210u);
  // VGG-11 (configuration A) without dropout on CIFAR-10: 9,220,480 in the convolutions, 525,312 + 5,130 in the classifier
  BOOST_TEST(count("vgg11", {3, 32, 32}) == 9750922u);
  BOOST_TEST(count("deeplinear", {50}) == 20u * 2500u);
  // BatchNorm adds γ and β per channel: 2·(64 + 128 + 2·256 + 4·512) to VGG-11
  BOOST_TEST(count("vgg11-bn", {3, 32, 32}) == 9750922u + 5504u);
  BOOST_TEST(count("cnn-bn-relu", {1, 28, 28}) == 25258u + 128u);
  // ResNet-32: 464,154 as in He et al.'s option-A CIFAR network, plus the fork's two BatchNorms in the
  // widening shortcuts (16 and 32 channels: 96 more)
  BOOST_TEST(count("resnet32", {3, 32, 32}) == 464154u + 96u);
  for (const auto& name : nn::arch_names()) BOOST_TEST(!nn::arch_model(name, 10).empty());
}

BOOST_AUTO_TEST_CASE(the_fc_architectures_are_the_mlp_in_the_same_layout) {
  const auto fc = nn::parse_model(nn::arch_model("fc-relu", 10), {1, 28, 28});
  const auto mlp = nn::mlp({784, {200, 200}, nn::ActivationKind::ReLU, 10, true});
  const auto a = fc->parameter_slices(), b = mlp->parameter_slices();
  BOOST_REQUIRE_EQUAL(a.size(), b.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    BOOST_TEST(a[i].offset == b[i].offset);
    BOOST_TEST(a[i].shape == b[i].shape);
  }
}

BOOST_AUTO_TEST_CASE(residual_blocks_add_their_shortcut) {
  // body: conv keeping the shape; shortcut: stride-2 subsampling and zero channels
  const auto net = nn::parse_model(
      "residual[conv(4,3,stride=2,pad=1,bias=false) relu conv(8,3,pad=1) | avgpool(1,stride=2) zeropad(4)] gap linear(3)",
      {4, 6, 6});
  BOOST_TEST(net->output_shape({4, 6, 6}) == (Shape{3}));
  BOOST_TEST(net->num_params() == 4u * 4 * 9 + (8u * 4 * 9 + 8) + (8u * 3 + 3));
  // The block's value is body(x) + [x subsampled, 0]: check one entry against the pieces.
  std::mt19937_64 rng(7);
  const Tensor theta = test::random_normal({net->num_params()}, rng);
  const Tensor x = test::random_normal({2, 4, 6, 6}, rng);
  ad::Tape t;
  const auto* block = dynamic_cast<const nn::Residual*>(net->modules()[0].get());
  BOOST_REQUIRE(block != nullptr);
  const ad::Var th = t.constant(theta), xv = t.constant(x);
  const Tensor y = block->forward(th, xv, 0).value();
  const auto body = nn::parse_model("conv(4,3,stride=2,pad=1,bias=false) relu conv(8,3,pad=1)", {4, 6, 6});
  const Tensor yb = body->forward(th, xv, 0).value();
  BOOST_REQUIRE(y.shape() == yb.shape());
  BOOST_TEST(y(1, 2, 1, 2) == yb(1, 2, 1, 2) + x(1, 2, 2, 4));  // channel 2 < 4: x at (2·1, 2·2)
  BOOST_TEST(y(1, 6, 1, 2) == yb(1, 6, 1, 2));                 // a zero-padded channel
}

BOOST_AUTO_TEST_CASE(bad_text_names_the_layer_and_what_was_expected) {
  const std::vector<std::pair<std::string, std::string>> bad = {
      {"conv(32,3,padd=1) relu", "layer 1 'conv(32,3,padd=1)' (character 1): conv has no option 'padd' (expected stride, pad, bias)"},
      {"conv(32) relu", "conv takes 2 positional arguments, got 1"},
      {"conv(32,3,pad=1) relu linear(10)", "layer 3 'linear(10)'"},
      {"conv(32,3,pad=1) relu linear(10)", "add flatten before it"},
      {"flatten linear(0)", "'0' in linear is not a positive integer"},
      {"flatten linear(-3)", "'-3' in linear is not a positive integer"},
      {"conv(8,3,bias=maybe)", "bias='maybe' in conv: expected true or false"},
      {"relu softmaxx", "unknown layer 'softmaxx'"},
      {"conv(8,30)", "smaller than the kernel"},
      {"maxpool(2", "'(' is not closed by ')'"},
      {"residual[relu", "residual[ … ] is not closed by ']'"},
      {"residual[conv(8,3,pad=1)]", "the body gives [8, 6, 6] but the shortcut [1, 6, 6]"},
      {"relu ]", "unexpected ']'"},
      {"   ", "no layers"},
  };
  for (const auto& [text, expected] : bad) {
    try {
      nn::parse_model(text, text.find("residual") != std::string::npos ? Shape{1, 6, 6} : Shape{1, 28, 28});
      BOOST_ERROR("'" << text << "' was accepted");
    } catch (const nn::ModelSyntaxError& e) {
      BOOST_TEST(std::string(e.what()).find(expected) != std::string::npos, "'" << text << "': " << e.what());
    }
  }
  BOOST_CHECK_EXCEPTION(nn::arch_model("resnet-32", 10), nn::ModelSyntaxError, [](const auto& e) {
    return std::string(e.what()).find("unknown architecture 'resnet-32' (expected one of: fc-relu") != std::string::npos;
  });
}

BOOST_AUTO_TEST_CASE(describe_prints_layers_and_the_theta_layout) {
  const auto net = nn::parse_model(nn::arch_model("cnn-relu", 10), {1, 28, 28});
  const std::string d = nn::describe_model(*net, {1, 28, 28});
  for (const char* part : {"Conv2d(1, 32, kernel_size=3, padding=1)", "→ [32, 14, 14]", "MaxPool2d(2)", "→ [1568]",
                           "Linear(1568, 10)", "3.weight", "25258 parameters"})
    BOOST_TEST(d.find(part) != std::string::npos, "'" << part << "' in\n" << d);
}

BOOST_AUTO_TEST_SUITE_END()

BOOST_AUTO_TEST_SUITE(custom_models)

// A model declared by names and shapes gets the offsets of declaration order
// and the same derivatives as the same network written with explicit slices.
BOOST_AUTO_TEST_CASE(parameters_by_name_need_no_offsets) {
  nn::ParameterLayout layout;
  layout.add("W0", {4, 3}).add("b0", {4}).add("W1", {2, 4});
  BOOST_TEST(layout.size() == 12u + 4u + 8u);
  BOOST_TEST(layout.at("W1").offset == 16u);
  BOOST_CHECK_THROW(layout.add("b0", {2}), std::invalid_argument);
  BOOST_CHECK_EXCEPTION(layout.at("W2"), std::invalid_argument, [](const std::invalid_argument& e) {
    return std::string(e.what()) == "no parameter 'W2' (declared: W0, b0, W1)";
  });
  const nn::Model m = nn::custom_model("two layers", layout, [](const nn::Params& p, ad::Var x) {
    return ad::matmul(ad::tanh(ad::matmul(x, p["W0"], false, true) + p["b0"]), p["W1"], false, true);
  });
  const auto net = nn::mlp({3, {4}, nn::ActivationKind::Tanh, 2, true});
  const nn::Model ref = nn::as_model(net);  // the same network but for W1's missing bias
  std::mt19937_64 rng(11);
  const data::Dataset ds = data::gaussian_clusters(20, 3, 2, 1.0, 3);
  nn::ModelObjective a(m, nn::Loss::CrossEntropy, ds, {});
  Tensor theta = test::random_normal({24}, rng), theta_ref = xt::zeros<double>({26});
  std::copy_n(theta.data(), 24, theta_ref.data());  // W0, b0, W1; then W1's bias 0
  nn::ModelObjective b(ref, nn::Loss::CrossEntropy, ds, {});
  const auto ga = a.value_and_grad(theta), gb = b.value_and_grad(theta_ref);
  BOOST_TEST(test::close_scalar(ga.value, gb.value, 1e-15));
  for (std::size_t i = 0; i < 24; ++i) BOOST_TEST(std::abs(ga.grad(i) - gb.grad(i)) <= 1e-15 * (1 + std::abs(gb.grad(i))));
}

BOOST_AUTO_TEST_SUITE_END()
