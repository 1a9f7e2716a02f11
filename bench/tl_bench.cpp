// C++ benchmarks of the core on every device present: pool alloc+free, add, sum, matmul, and
// the host time of recording and running the fusion issue's 8-op chain on 16 elements.
// Run: tl_bench --benchmark_format=json. Each reports bytes or FLOPs processed so the JSON
// carries a throughput to compare with the device's floor (bandwidth, peak FLOPS).
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "core/graph.h"
#include "core/ops.h"

namespace {

tl::Tensor random_tensor(const tl::Shape& shape, tl::Device dev) {
  return tl::random_uniform(-1.0, 1.0, shape, tl::DType::Float32, dev);
}

void pool_alloc_free(benchmark::State& st, tl::Device dev) {
  const int64_t n = st.range(0);
  for (auto _ : st) {
    tl::Tensor t = tl::empty({n}, tl::DType::Float32, dev);
    benchmark::DoNotOptimize(t.buffer()->data());
  }
}

void add(benchmark::State& st, tl::Device dev) {
  const int64_t n = st.range(0);
  tl::Tensor a = random_tensor({n}, dev), b = random_tensor({n}, dev);
  for (auto _ : st) {
    tl::Tensor c = tl::binary(tl::OpCode::add, a, b);
    benchmark::DoNotOptimize(c.buffer()->data());  // ops are lazy: reading the buffer runs it
    tl::synchronize(dev);
  }
  st.SetBytesProcessed(st.iterations() * n * 12);
}

void sum(benchmark::State& st, tl::Device dev) {
  const int64_t n = st.range(0);
  tl::Tensor a = random_tensor({n}, dev);
  for (auto _ : st) {
    tl::Tensor s = tl::reduce(tl::ReduceOp::Sum, a, std::nullopt, false);
    benchmark::DoNotOptimize(s.buffer()->data());
    tl::synchronize(dev);
  }
  st.SetBytesProcessed(st.iterations() * n * 4);
}

void matmul(benchmark::State& st, tl::Device dev) {
  const int64_t n = st.range(0);
  tl::Tensor a = random_tensor({n, n}, dev), b = random_tensor({n, n}, dev);
  for (auto _ : st) {
    tl::Tensor c = tl::matmul(a, b);
    benchmark::DoNotOptimize(c.buffer()->data());
    tl::synchronize(dev);
  }
  st.counters["FLOPS"] = benchmark::Counter(double(2 * n * n * n), benchmark::Counter::kIsIterationInvariantRate);
}

// bench/compare.py's chain: y = x*w + b; y = 0.5*y*(1 + tanh(0.79788456*(y + 0.044715*y^3)));
// y = y*0.5 + 1; y = tanh(y)*w; y - b. On 16 elements the time is the host's.
void chain8_host(benchmark::State& st, tl::Device dev) {
  using tl::OpCode;
  const tl::Tensor x = random_tensor({16}, dev), w = random_tensor({16}, dev), b = random_tensor({16}, dev);
  auto f = [](double v) { return tl::Scalar::from_float(v); };
  auto op = [](OpCode c, const tl::Operand& l, const tl::Operand& r) { return tl::binary(c, l, r); };
  for (auto _ : st) {
    tl::Tensor y = op(OpCode::add, op(OpCode::multiply, x, w), b);
    tl::Tensor cube = op(OpCode::multiply, op(OpCode::multiply, op(OpCode::multiply, f(0.044715), y), y), y);
    tl::Tensor inner = op(OpCode::multiply, f(0.7978845608), op(OpCode::add, y, cube));
    y = op(OpCode::multiply, op(OpCode::multiply, f(0.5), y), op(OpCode::add, f(1), tl::unary(OpCode::tanh, inner)));
    y = op(OpCode::add, op(OpCode::multiply, y, f(0.5)), f(1));
    y = op(OpCode::subtract, op(OpCode::multiply, tl::unary(OpCode::tanh, y), w), b);
    const tl::Tensor out[] = {y};
    tl::graph::evaluate(out);
    tl::synchronize(dev);
  }
}

}  // namespace

int main(int argc, char** argv) {
  for (tl::Device dev : tl::devices()) {
    std::string d = dev.type == tl::DeviceType::CPU ? "cpu" : dev.str();
    benchmark::RegisterBenchmark(("BM_PoolAllocFree/" + d).c_str(), pool_alloc_free, dev)->Arg(1 << 10)->Arg(1 << 20);
    benchmark::RegisterBenchmark(("BM_Add/" + d).c_str(), add, dev)->Arg(1 << 10)->Arg(1 << 24)->UseRealTime();
    benchmark::RegisterBenchmark(("BM_Sum/" + d).c_str(), sum, dev)->Arg(1 << 24)->UseRealTime();
    benchmark::RegisterBenchmark(("BM_Matmul/" + d).c_str(), matmul, dev)->Arg(256)->Arg(1024)->UseRealTime();
    benchmark::RegisterBenchmark(("BM_Chain8Host/" + d).c_str(), chain8_host, dev)->UseRealTime();
  }
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
