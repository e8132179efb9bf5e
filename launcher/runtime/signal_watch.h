// SIGINT and SIGTERM, blocked while awf supervises and read from a signalfd
// in its poll loops, so a Ctrl-C becomes an orderly stop with cleanup.
#pragma once

#include <signal.h>

#include "awf/unique_fd.h"
#include "awf/result.h"

namespace awf::runtime {

class SignalWatch {
 public:
  // Blocks SIGINT and SIGTERM until the watch goes away, which restores the
  // previous mask.
  static Result<SignalWatch> start();
  SignalWatch(SignalWatch&& other) noexcept;
  SignalWatch& operator=(SignalWatch&&) = delete;
  ~SignalWatch();
  int fd() const { return fd_.get(); }
  // The mask before start(): what the children get back before they exec.
  const sigset_t& previous_mask() const { return previous_; }
  // The signal that arrived, or 0.
  int take() const;

 private:
  SignalWatch() = default;
  UniqueFd fd_;
  sigset_t previous_{};
  bool active_ = false;
};

}  // namespace awf::runtime
