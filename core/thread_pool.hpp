// A fixed set of worker threads for data-parallel loops over environments.
//
// parallel_for splits [0, n) into contiguous chunks, one per thread (the caller's thread runs the
// first), and returns when all are done. Per-environment work is independent, so results do not
// depend on the thread count; the pool only decides who computes what. The body is passed by
// reference through a two-word handle, never copied into a std::function, so a call allocates
// nothing (the control-step loop relies on it).
#pragma once

#include <condition_variable>
#include <cstddef>
#include <exception>
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
  template <typename Body>
  void parallel_for(size_t n, const Body& body) {
    run({&body, [](const void* b, size_t begin, size_t end) {
           (*static_cast<const Body*>(b))(begin, end);
         }},
        n);
  }

 private:
  // A non-owning reference to a chunk body.
  struct BodyRef {
    const void* object;
    void (*call)(const void*, size_t, size_t);
    void operator()(size_t begin, size_t end) const { call(object, begin, end); }
  };

  void run(BodyRef body, size_t n);
  void worker_loop(size_t index);

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable start_cv_, done_cv_;
  BodyRef body_{nullptr, nullptr};
  size_t n_ = 0;
  size_t generation_ = 0;
  size_t pending_ = 0;
  bool stopping_ = false;
  std::exception_ptr error_;
};

}  // namespace dmpc
