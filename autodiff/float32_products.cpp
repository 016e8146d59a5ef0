#include "float32_products.hpp"

#include <algorithm>
#include <stdexcept>

#include <xtensor-blas/xblas.hpp>

namespace eos::ad {
namespace {
thread_local Float32Products* installed = nullptr;
}  // namespace

void Float32Products::keep(const double* data, std::size_t size) {
  if (data == nullptr || size == 0) return;
  const auto at = std::lower_bound(kept_.begin(), kept_.end(), data,
                                   [](const Kept& k, const double* p) { return k.begin < p; });
  if (at != kept_.end() && at->begin == data) {  // the same buffer again (e.g. a value and its view)
    at->size = std::max(at->size, size);
    return;
  }
  kept_.insert(at, Kept{data, size, {}});
}

void Float32Products::clear() { kept_.clear(); }

std::size_t Float32Products::kept_doubles() const {
  std::size_t n = 0;
  for (const auto& k : kept_) n += k.size;
  return n;
}

Float32Products::Scope::Scope(Float32Products* p) : previous_(installed) { installed = p; }
Float32Products::Scope::~Scope() { installed = previous_; }
Float32Products* Float32Products::active() { return installed; }

const float* Float32Products::rounded(const double* A, std::size_t rows, std::size_t cols, std::size_t ld,
                                      std::vector<float>& scratch) {
  const std::size_t extent = (rows - 1) * ld + cols;  // the doubles the product reads, from A
  auto after = std::upper_bound(kept_.begin(), kept_.end(), A, [](const double* p, const Kept& k) { return p < k.begin; });
  if (after != kept_.begin()) {
    Kept& k = *std::prev(after);
    if (A >= k.begin && A + extent <= k.begin + k.size) {
      if (k.copy.empty()) k.copy.assign(k.begin, k.begin + k.size);  // rounds each double to nearest float
      return k.copy.data() + (A - k.begin);
    }
  }
  // grown only (a std::vector zero-fills what it grows by: a shrink and regrow between products of
  // different shapes cost a memset of the whole buffer each time)
  if (scratch.size() < extent) scratch.resize(extent);
  for (std::size_t r = 0; r < rows; ++r)
    std::copy(A + r * ld, A + r * ld + cols, scratch.begin() + std::ptrdiff_t(r * ld));
  return scratch.data();
}

bool Float32Products::hold(const double* data, std::size_t size) {
  if (data == nullptr || size == 0) return false;
  const auto at = std::lower_bound(kept_.begin(), kept_.end(), data,
                                   [](const Kept& k, const double* p) { return k.begin < p; });
  if (at != kept_.begin() && std::prev(at)->begin + std::prev(at)->size > data) return false;  // inside one
  if (at != kept_.end() && at->begin < data + size) return false;                               // reaches one
  Kept held{data, size, {}};
  if (!spare_copies_.empty()) {  // a released copy's storage: no allocation per rule
    held.copy = std::move(spare_copies_.back());
    spare_copies_.pop_back();
    held.copy.clear();  // empty: not rounded yet
  }
  kept_.insert(at, std::move(held));
  return true;
}

void Float32Products::release(const double* data) {
  const auto at = std::lower_bound(kept_.begin(), kept_.end(), data,
                                   [](const Kept& k, const double* p) { return k.begin < p; });
  if (at == kept_.end() || at->begin != data) return;
  spare_copies_.push_back(std::move(at->copy));
  kept_.erase(at);
}

void Float32Products::sum_begin(std::size_t M, std::size_t N) {
  if (summing_) throw std::logic_error("Float32Products::sum_begin: a sum is already open");
  summing_ = true;
  sum_rows_ = M;
  sum_cols_ = N;
  sum_terms_ = 0;
}

void Float32Products::sum_add(bool tx, bool ty, std::size_t K, const double* X, std::size_t ldx, const double* Y,
                              std::size_t ldy) {
  if (!summing_) throw std::logic_error("Float32Products::sum_add: no sum is open");
  const std::size_t M = sum_rows_, N = sum_cols_;
  if (M == 0 || N == 0 || K == 0) return;  // adds nothing
  // As stored: X is M×K (or K×M when transposed), Y is K×N (or N×K).
  const float* x = rounded(X, tx ? K : M, tx ? M : K, ldx, x_);
  const float* y = rounded(Y, ty ? N : K, ty ? K : N, ldy, y_);
  if (sum_terms_ == 0 && c_.size() < M * N) c_.resize(M * N);  // grown only, as in rounded()
  using cxxblas::Transpose;
  using I = xt::blas_index_t;
  cxxblas::gemm<I>(cxxblas::StorageOrder::RowMajor, tx ? Transpose::Trans : Transpose::NoTrans,
                   ty ? Transpose::Trans : Transpose::NoTrans, static_cast<I>(M), static_cast<I>(N),
                   static_cast<I>(K), 1.0f, x, static_cast<I>(ldx), y, static_cast<I>(ldy),
                   sum_terms_ == 0 ? 0.0f : 1.0f, c_.data(), static_cast<I>(N));
  ++products_;
  ++sum_terms_;
}

void Float32Products::sum_end(double beta, double* C, std::size_t ldc) {
  if (!summing_) throw std::logic_error("Float32Products::sum_end: no sum is open");
  summing_ = false;
  const std::size_t M = sum_rows_, N = sum_cols_;
  for (std::size_t i = 0; i < M; ++i) {
    double* row = C + i * ldc;
    if (sum_terms_ == 0) {  // C = beta·C
      for (std::size_t j = 0; j < N; ++j) row[j] = beta == 0.0 ? 0.0 : beta * row[j];
      continue;
    }
    const float* p = c_.data() + i * N;
    if (beta == 0.0)
      for (std::size_t j = 0; j < N; ++j) row[j] = double(p[j]);
    else
      for (std::size_t j = 0; j < N; ++j) row[j] = beta * row[j] + double(p[j]);
  }
}

void Float32Products::gemm(bool tx, bool ty, std::size_t M, std::size_t N, std::size_t K, const double* X,
                           std::size_t ldx, const double* Y, std::size_t ldy, double beta, double* C, std::size_t ldc) {
  sum_begin(M, N);
  sum_add(tx, ty, K, X, ldx, Y, ldy);
  sum_end(beta, C, ldc);
}

}  // namespace eos::ad
