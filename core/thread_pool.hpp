// A fixed set of worker threads for data-parallel loops over environments.
//
// parallel_for splits [0, n) into contiguous chunks, one per thread (the caller's thread runs the
// first), and returns when all are done. Per-environment work is independent, so results do not
// depend on the thread count; the pool only decides who computes what.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace dmpc {

class ThreadPool {
 public:
  // threads = 0 picks std::thread::hardware_concurrency().
  explicit ThreadPool(size_t threads = 0);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  size_t size() const { return workers_.size() + 1; }

  // Calls body(begin, end) on disjoint chunks covering [0, n). Rethrows the first exception.
  void parallel_for(size_t n, const std::function<void(size_t, size_t)>& body);

 private:
  void worker_loop(size_t index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  const std::function<void(size_t, size_t)>* body_ = nullptr;
  size_t n_ = 0;
  size_t generation_ = 0;
  size_t pending_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace dmpc
