// SIGINT/SIGTERM arrive on a signalfd(2) while awf supervises.
#include "signal_watch.h"

#include <sys/signalfd.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "awf/errno_text.h"

namespace awf::runtime {

Result<SignalWatch> SignalWatch::start() {
  SignalWatch watch;
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  if (::sigprocmask(SIG_BLOCK, &set, &watch.previous_) != 0) return Error{"sigprocmask: " + errno_text(errno)};
  watch.active_ = true;
  watch.fd_.reset(::signalfd(-1, &set, SFD_CLOEXEC | SFD_NONBLOCK));
  if (!watch.fd_) return Error{"signalfd: " + errno_text(errno)};
  return watch;
}

SignalWatch::SignalWatch(SignalWatch&& other) noexcept
    : fd_(std::move(other.fd_)), previous_(other.previous_), active_(std::exchange(other.active_, false)) {}

SignalWatch::~SignalWatch() {
  if (active_) ::sigprocmask(SIG_SETMASK, &previous_, nullptr);
}

int SignalWatch::take() const {
  signalfd_siginfo info{};
  if (::read(fd_.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return 0;
  return static_cast<int>(info.ssi_signo);
}

}  // namespace awf::runtime
