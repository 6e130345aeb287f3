// torch.ops.mmdet_cgd.sum_max_hw(x) -> (sums, peaks): per (N, C) of a contiguous CPU tensor,
// the sum and the max over H x W, in one read.
//
// PyTorch has no op that gives both from one pass: sum then amax read the activation twice,
// and on a CPU the second read costs nearly as much as the first, even chunked from cache.
// Sums: lanes of x's dtype within blocks of kBlock elements, blocks added in double, returned
// in x's dtype (float or double); peaks: exact, NaN wherever the row holds a NaN (as torch.amax).
#include <ATen/Dispatch.h>
#include <ATen/Parallel.h>
#include <ATen/core/Tensor.h>
#include <ATen/core/dispatch/Dispatcher.h>
#include <ATen/core/grad_mode.h>
#include <ATen/ops/empty.h>
#include <c10/core/impl/LocalDispatchKeySet.h>
#include <torch/library.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <tuple>

namespace {

// Elements summed in scalar_t before the block's total joins the row's double sum: bounds the
// rounding of float32 sums (relative error ~ kBlock / lanes * 2^-24 at worst).
constexpr int64_t kBlock = 2048;
// Elements per parallel task at least: torch's own grain for elementwise ops and reductions.
constexpr int64_t kGrain = 32768;

template <typename scalar_t>
scalar_t first_nan_or(const scalar_t* p, int64_t len, scalar_t peak) {
  for (int64_t i = 0; i < len; ++i) {
    if (p[i] != p[i]) return p[i];
  }
  return peak;
}

// One row: SIMD lanes of 16 bytes (SSE2, every x86-64), 4 independent accumulators each.
template <typename scalar_t>
void sum_max_row(const scalar_t* p, int64_t len, double* sum, scalar_t* peak) {
  typedef scalar_t vec __attribute__((vector_size(16)));
  constexpr int kWidth = 16 / sizeof(scalar_t);
  constexpr int kUnroll = 4;
  const scalar_t lowest = -std::numeric_limits<scalar_t>::infinity();
  vec m[kUnroll];
  for (int u = 0; u < kUnroll; ++u) {
    for (int k = 0; k < kWidth; ++k) m[u][k] = lowest;
  }
  scalar_t tail_max = lowest;
  double total = 0;
  int64_t i = 0;
  while (i < len) {
    const int64_t stop = std::min(len, i + kBlock);
    vec s[kUnroll] = {};
    for (; i + kUnroll * kWidth <= stop; i += kUnroll * kWidth) {
      for (int u = 0; u < kUnroll; ++u) {
        vec v;
        std::memcpy(&v, p + i + u * kWidth, sizeof(vec));
        s[u] += v;
        m[u] = v > m[u] ? v : m[u];  // a NaN is dropped here; found below from the sum
      }
    }
    double block = 0;
    for (; i < stop; ++i) {
      block += p[i];
      tail_max = p[i] > tail_max ? p[i] : tail_max;
    }
    const vec lanes = (s[0] + s[1]) + (s[2] + s[3]);
    for (int k = 0; k < kWidth; ++k) block += lanes[k];
    total += block;
  }
  scalar_t max = tail_max;
  for (int u = 0; u < kUnroll; ++u) {
    for (int k = 0; k < kWidth; ++k) max = m[u][k] > max ? m[u][k] : max;
  }
  *sum = total;
  // a NaN anywhere makes the sum NaN (so does +inf with -inf: then the scan finds none)
  *peak = total != total ? first_nan_or(p, len, max) : max;
}

std::tuple<at::Tensor, at::Tensor> sum_max_hw(const at::Tensor& x) {
  TORCH_CHECK(x.dim() == 4 && x.device().is_cpu() && x.is_contiguous(),
              "sum_max_hw: expected a contiguous 4-D CPU tensor, got ", x.dim(), "-D on ",
              x.device(), x.is_contiguous() ? "" : " (not contiguous)");
  TORCH_CHECK(x.size(2) * x.size(3) > 0, "sum_max_hw: expected H x W > 0, got ", x.sizes());
  const int64_t rows = x.size(0) * x.size(1);
  const int64_t len = x.size(2) * x.size(3);
  auto sums = at::empty({x.size(0), x.size(1)}, x.options());
  auto peaks = at::empty({x.size(0), x.size(1)}, x.options());
  AT_DISPATCH_FLOATING_TYPES(x.scalar_type(), "sum_max_hw", [&] {
    const scalar_t* data = x.const_data_ptr<scalar_t>();
    scalar_t* sum_out = sums.mutable_data_ptr<scalar_t>();
    scalar_t* peak_out = peaks.mutable_data_ptr<scalar_t>();
    // rows per task: at least kGrain elements, so small inputs stay on one thread
    const int64_t grain = std::max<int64_t>(1, kGrain / len);
    at::parallel_for(0, rows, grain, [&](int64_t begin, int64_t end) {
      for (int64_t r = begin; r < end; ++r) {
        double sum;
        sum_max_row(data + r * len, len, &sum, peak_out + r);
        sum_out[r] = static_cast<scalar_t>(sum);
      }
    });
  });
  return {sums, peaks};
}

// The op has no derivative: where autograd would record it, refuse rather than return outputs
// whose gradient silently never reaches x. (CGD calls it where autograd does not record.)
std::tuple<at::Tensor, at::Tensor> sum_max_hw_autograd(const at::Tensor& x) {
  TORCH_CHECK(!(at::GradMode::is_enabled() && x.requires_grad()),
              "sum_max_hw has no gradient: call it under torch.no_grad() or on x.detach()");
  c10::impl::ExcludeDispatchKeyGuard below_autograd(c10::autograd_dispatch_keyset);
  static const auto op = c10::Dispatcher::singleton()
                             .findSchemaOrThrow("mmdet_cgd::sum_max_hw", "")
                             .typed<std::tuple<at::Tensor, at::Tensor>(const at::Tensor&)>();
  return op.call(x);
}

}  // namespace

TORCH_LIBRARY(mmdet_cgd, m) { m.def("sum_max_hw(Tensor x) -> (Tensor, Tensor)"); }

TORCH_LIBRARY_IMPL(mmdet_cgd, CPU, m) { m.impl("sum_max_hw", &sum_max_hw); }

TORCH_LIBRARY_IMPL(mmdet_cgd, Autograd, m) { m.impl("sum_max_hw", &sum_max_hw_autograd); }
