#include "cpu/elementwise.h"

#include <cstring>

#include "core/scalar_math.h"
#include "cpu/dtype_dispatch.h"
#include "cpu/op_kernels.h"
#include "cpu/strided_loop.h"
#include "cpu/vec_math.h"
#include "cpu/thread_pool.h"

namespace tl::cpu {
namespace {

constexpr int64_t kBlock = 1024;      // elements per block: inputs stay in L1
constexpr int64_t kGrain = 1 << 15;   // smallest range worth a thread

template <class C>
constexpr bool defined_for(const char* types) {
  return std::is_floating_point_v<C> ? types[0] == 'F' : (types[0] == 'I' || types[1] == 'I');
}

// One loop per (op, compute type), written from the op table's expression. The float
// overloads of vec_math.h are declared here beside scalar_math.h's templates, so overload
// resolution sees both: float takes the vectorizable one, double the template.
using namespace tl::sm;
#define TL_FLOAT_OVERLOAD(f) \
  using tl::sm::f;           \
  using tl::cpu::vm::f;
TL_FLOAT_OVERLOAD(tl_exp)
TL_FLOAT_OVERLOAD(tl_log)
TL_FLOAT_OVERLOAD(tl_expm1)
TL_FLOAT_OVERLOAD(tl_log1p)
TL_FLOAT_OVERLOAD(tl_softplus)
TL_FLOAT_OVERLOAD(tl_tanh)
TL_FLOAT_OVERLOAD(tl_sigmoid)
TL_FLOAT_OVERLOAD(tl_silu)
TL_FLOAT_OVERLOAD(tl_gelu_tanh)
#undef TL_FLOAT_OVERLOAD
#define TL_UNARY(name, rule, types, expr)                                   \
  template <class C>                                                        \
  TL_CPU_CLONES void k_##name(const C* const* in, C* o, int64_t n) {                      \
    if constexpr (defined_for<C>(#types)) {                                 \
      const C* A = in[0];                                                   \
      for (int64_t i = 0; i < n; ++i) {                                     \
        C a = A[i];                                                         \
        o[i] = C(expr);                                                     \
      }                                                                     \
    }                                                                       \
  }
#define TL_BINARY(name, rule, types, expr)                                  \
  template <class C>                                                        \
  TL_CPU_CLONES void k_##name(const C* const* in, C* o, int64_t n) {                      \
    if constexpr (defined_for<C>(#types)) {                                 \
      const C *A = in[0], *B = in[1];                                       \
      for (int64_t i = 0; i < n; ++i) {                                     \
        C a = A[i], b = B[i];                                               \
        o[i] = C(expr);                                                     \
      }                                                                     \
    }                                                                       \
  }
#define TL_TERNARY(name, rule, types, expr)                                 \
  template <class C>                                                        \
  TL_CPU_CLONES void k_##name(const C* const* in, C* o, int64_t n) {                      \
    if constexpr (defined_for<C>(#types)) {                                 \
      const C *A = in[0], *B = in[1], *Cc = in[2];                          \
      for (int64_t i = 0; i < n; ++i) {                                     \
        C a = A[i], b = B[i], c = Cc[i];                                    \
        o[i] = C(expr);                                                     \
      }                                                                     \
    }                                                                       \
  }
#include "core/elementwise_ops.def"

}  // namespace

template <class C>
KernelFn<C> kernel_for(OpCode op) {
  static constexpr KernelFn<C> table[] = {
#define TL_UNARY(name, rule, types, expr) &k_##name<C>,
#define TL_BINARY(name, rule, types, expr) &k_##name<C>,
#define TL_TERNARY(name, rule, types, expr) &k_##name<C>,
#include "core/elementwise_ops.def"
  };
  return table[int(op)];
}
template KernelFn<float> kernel_for<float>(OpCode);
template KernelFn<double> kernel_for<double>(OpCode);
template KernelFn<int64_t> kernel_for<int64_t>(OpCode);

namespace {

// Operand 0 of the loop is the output, 1..3 the inputs.
template <class C>
void run(OpCode op, std::span<const Tensor> inputs, const Tensor& out) {
  const int nin = int(inputs.size());
  const Strides zero(out.shape().size(), 0);
  std::array<const Strides*, 4> st{&out.strides(), &zero, &zero, &zero};
  for (int k = 0; k < nin; ++k) st[size_t(k + 1)] = &inputs[size_t(k)].strides();
  const StridedLoop<4> loop(out.shape(), st);
  const KernelFn<C> fn = kernel_for<C>(op);
  const DType cdt = out.dtype();

  parallel_for(loop.size(), kGrain, [&](int64_t begin, int64_t end) {
    std::array<C, kBlock> buf[4];
    loop.for_each_row(begin, end, [&](const std::array<int64_t, 4>& off0, int64_t n) {
      const auto& is = loop.inner_strides();
      for (int64_t done = 0; done < n; done += kBlock) {
        const int64_t m = std::min(kBlock, n - done);
        const C* in_ptr[3] = {};
        for (int k = 0; k < nin; ++k) {
          const Tensor& x = inputs[size_t(k)];
          const int64_t s = is[size_t(k + 1)];
          const int64_t o = x.offset() + off0[size_t(k + 1)] + done * s;
          const char* base = static_cast<const char*>(x.buffer()->data());
          if (x.dtype() == DTypeOf<C>::value && s == 1) {
            in_ptr[k] = reinterpret_cast<const C*>(base) + o;
          } else {
            load_row<C>(x.dtype(), base, o, s, m, buf[k + 1].data());
            in_ptr[k] = buf[k + 1].data();
          }
        }
        const int64_t os = is[0];
        const int64_t oo = out.offset() + off0[0] + done * os;
        char* obase = static_cast<char*>(out.buffer()->data());
        if (cdt == DTypeOf<C>::value && os == 1) {
          fn(in_ptr, reinterpret_cast<C*>(obase) + oo, m);
        } else {
          fn(in_ptr, buf[0].data(), m);
          store_row<C>(cdt, obase, oo, os, m, buf[0].data());
        }
      }
    });
  });
}

// Same-dtype identity: a byte copy along rows, whatever the dtype.
void copy_same_dtype(const Tensor& in, const Tensor& out) {
  const int64_t sz = itemsize(out.dtype());
  const StridedLoop<2> loop(out.shape(), {&out.strides(), &in.strides()});
  const char* ib = static_cast<const char*>(in.buffer()->data()) + in.offset() * sz;
  char* ob = static_cast<char*>(out.buffer()->data()) + out.offset() * sz;
  parallel_for(loop.size(), kGrain, [&](int64_t begin, int64_t end) {
    loop.for_each_row(begin, end, [&](const std::array<int64_t, 2>& off, int64_t n) {
      const auto& s = loop.inner_strides();
      if (s[0] == 1 && s[1] == 1) {
        std::memmove(ob + off[0] * sz, ib + off[1] * sz, size_t(n * sz));
        return;
      }
      for (int64_t i = 0; i < n; ++i)
        std::memcpy(ob + (off[0] + i * s[0]) * sz, ib + (off[1] + i * s[1]) * sz, size_t(sz));
    });
  });
}

}  // namespace

void elementwise(OpCode op, DType compute, std::span<const Tensor> inputs, const Tensor& out) {
  if (out.numel() == 0) return;
  if (op == OpCode::identity && inputs[0].dtype() == out.dtype())
    return copy_same_dtype(inputs[0], out);
  visit_compute(compute, [&](auto c) { run<decltype(c)>(op, inputs, out); });
}

void arange(double start, double step, const Tensor& out) {
  visit_dtype(out.dtype(), [&](auto s) {
    using S = decltype(s);
    S* p = static_cast<S*>(out.data_ptr());
    parallel_for(out.numel(), kGrain, [&](int64_t b, int64_t e) {
      for (int64_t i = b; i < e; ++i) p[i] = from_compute<S, double>(start + double(i) * step);
    });
  });
}

}  // namespace tl::cpu
