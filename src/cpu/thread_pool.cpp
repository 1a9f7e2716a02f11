#include "cpu/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdlib>
#include <exception>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace tl::cpu {
namespace {

int threads_from_env() {
  if (const char* s = std::getenv("TENSORLOGIC_NUM_THREADS")) {
    int n = std::atoi(s);
    if (n > 0) return n;
  }
  return std::max(1u, std::thread::hardware_concurrency());
}

// One job at a time; its chunks are claimed from an atomic counter by the workers and the
// caller. Each job is its own object, so a worker waking late only sees a drained job.
struct Job {
  const std::function<void(int64_t)>* fn;
  int64_t total;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> pending;
  std::mutex mu;
  std::condition_variable done;
  std::exception_ptr error;
  Job(const std::function<void(int64_t)>* f, int64_t n) : fn(f), total(n), pending(n) {}
};

thread_local bool in_pool = false;

class Pool {
 public:
  explicit Pool(int n) : size_(n) {
    for (int i = 1; i < n; ++i) workers_.emplace_back([this] { work_loop(); });
  }
  ~Pool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& t : workers_) t.join();
  }
  int size() const { return size_; }

  void run(int64_t chunks, const std::function<void(int64_t)>& chunk_fn) {
    std::lock_guard job_lock(job_mu_);  // other callers wait for this job to finish
    auto job = std::make_shared<Job>(&chunk_fn, chunks);
    {
      std::lock_guard lock(mu_);
      job_ = job;
      ++generation_;
    }
    wake_.notify_all();
    drain(*job);
    {
      std::unique_lock lock(job->mu);
      job->done.wait(lock, [&] { return job->pending.load() == 0; });
    }
    {
      std::lock_guard lock(mu_);
      job_.reset();
    }
    if (job->error) std::rethrow_exception(job->error);
  }

 private:
  static void drain(Job& job) {
    for (;;) {
      int64_t i = job.next.fetch_add(1);
      if (i >= job.total) return;
      bool was_in_pool = in_pool;
      in_pool = true;
      try {
        (*job.fn)(i);
      } catch (...) {
        std::lock_guard lock(job.mu);
        if (!job.error) job.error = std::current_exception();
      }
      in_pool = was_in_pool;
      if (job.pending.fetch_sub(1) == 1) {
        std::lock_guard lock(job.mu);
        job.done.notify_all();
      }
    }
  }
  void work_loop() {
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stop_ || (job_ && generation_ != seen); });
        if (stop_) return;
        job = job_;
        seen = generation_;
      }
      drain(*job);
    }
  }

  int size_;
  std::vector<std::thread> workers_;
  std::mutex job_mu_, mu_;
  std::condition_variable wake_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
  bool stop_ = false;
};

Pool& pool() {
  static Pool p(threads_from_env());
  return p;
}

}  // namespace

int num_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  grain = std::max<int64_t>(grain, 1);
  Pool& p = pool();
  int64_t chunks = std::min<int64_t>((n + grain - 1) / grain, int64_t(p.size()) * 4);
  if (chunks <= 1 || p.size() == 1 || in_pool) {
    fn(0, n);
    return;
  }
  int64_t step = (n + chunks - 1) / chunks;
  chunks = (n + step - 1) / step;
  p.run(chunks, [&](int64_t c) { fn(c * step, std::min(n, (c + 1) * step)); });
}

}  // namespace tl::cpu
