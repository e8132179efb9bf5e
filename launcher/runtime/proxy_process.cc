// awf-proxy's process: fork/exec with the listeners handed over, the ready
// wait, the output tail, the stop.
#include "proxy_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "awf/intercept/socket_activation.h"
#include "awf/errno_text.h"
#include "awf/startup_trace.h"

namespace awf::runtime {
namespace {


constexpr const char* kReadyLine = "awf-proxy: ready";
constexpr const char* kLogsClosedLine = "awf-proxy: logs closed";
constexpr std::size_t kProxyTailLines = 20;

}  // namespace

bool ProxyOutput::drain() {
  char buffer[4096];
  ssize_t got;
  do {
    got = ::read(fd_.get(), buffer, sizeof buffer);
  } while (got < 0 && errno == EINTR);
  if (got < 0 && errno == EAGAIN) return false;
  if (got <= 0) {
    if (!partial_.empty()) line(std::exchange(partial_, {}));
    fd_.reset();
    return false;
  }
  partial_.append(buffer, static_cast<std::size_t>(got));
  for (std::size_t nl; (nl = partial_.find('\n')) != std::string::npos;) {
    line(partial_.substr(0, nl));
    partial_.erase(0, nl + 1);
  }
  return true;
}

std::string ProxyOutput::tail() const {
  std::string out;
  for (const auto& l : tail_) out += "\n  " + l;
  return out;
}

void ProxyOutput::line(const std::string& text) {
  // The proxy's start-up trace goes where awf's own goes.
  if (startup_trace::enabled() && text.rfind("awf-trace: ", 0) == 0) {
    const std::string out = text + "\n";
    (void)!::write(STDERR_FILENO, out.data(), out.size());
    return;
  }
  if (text.find(kReadyLine) != std::string::npos) ready_ = true;
  if (text.rfind(kLogsClosedLine, 0) == 0) logs_closed_ = true;
  diag_.debug("[awf-proxy] " + text);
  tail_.push_back(text);
  if (tail_.size() > kProxyTailLines) tail_.pop_front();
}

Result<Proxy> start_proxy(Plan& plan, std::vector<UniqueFd>& listener_fds, const std::string& kinds,
                          const sigset_t& original_mask, const Diagnostics& diag) {
  std::vector<intercept::PassedListener> passed;
  for (std::size_t i = 0; i < listener_fds.size(); ++i) {
    passed.push_back({static_cast<intercept::ListenerKind>(kinds[i]), listener_fds[i].get()});
  }
  auto handoff = intercept::ListenerHandoff::prepare(passed, plan.proxy_env);
  if (!handoff) return Error{"awf-proxy: " + handoff.message()};
  int pipe_fds[2];
  if (::pipe2(pipe_fds, O_CLOEXEC) != 0) return Error{"awf-proxy: pipe2: " + errno_text(errno)};
  UniqueFd read_end(pipe_fds[0]), write_end(pipe_fds[1]);
  UniqueFd null_fd(::open("/dev/null", O_RDONLY | O_CLOEXEC));
  auto argv = c_strings(plan.proxy_argv);
  const pid_t parent = ::getpid();
  const pid_t pid = ::fork();
  if (pid < 0) return Error{"awf-proxy: fork: " + errno_text(errno)};
  if (pid == 0) {
    // Only async-signal-safe calls from here to execve.
    if (!die_with_parent(parent)) ::_exit(kExitFailure);
    // Its own process group: a terminal's Ctrl-C reaches awf and the
    // command, and awf then stops the proxy after the command, logs intact.
    ::setpgid(0, 0);
    ::sigprocmask(SIG_SETMASK, &original_mask, nullptr);
    if (::dup2(null_fd.get(), 0) < 0 || ::dup2(write_end.get(), 1) < 0 || ::dup2(write_end.get(), 2) < 0) {
      ::_exit(kExitFailure);
    }
    if (handoff->apply_in_child() != 0) ::_exit(kExitFailure);
    // Nothing but the listeners (3 ..) and stdio crosses into the proxy.
    ::close_range(static_cast<unsigned>(intercept::kListenFdsStart + passed.size()), ~0U, CLOSE_RANGE_CLOEXEC);
    ::execve(plan.proxy_path.c_str(), argv.data(), handoff->envp());
    static constexpr char kMessage[] = "awf-proxy: execve failed\n";
    (void)!::write(2, kMessage, sizeof kMessage - 1);
    ::_exit(127);
  }
  ::fcntl(read_end.get(), F_SETFL, O_NONBLOCK);
  listener_fds.clear();  // the proxy has them now; the agent side closed its own
  return Proxy{Child(pid), ProxyOutput(std::move(read_end), diag)};
}

Status wait_for_proxy_ready(Proxy& proxy, const SignalWatch& signals, Clock::time_point deadline,
                            const RuntimeConfig& config, int& signal_seen) {
  while (!proxy.output.ready()) {
    if (!proxy.output.open()) {
      const int status = proxy.child.stop(config.proxy_stop_grace);
      return Error{"awf-proxy exited before it was ready (" + describe_wait_status(status) + ")" +
                   proxy.output.tail()};
    }
    pollfd fds[2] = {{proxy.output.fd(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    const int n = ::poll(fds, 2, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"poll while waiting for awf-proxy: " + errno_text(errno)};
    if ((fds[1].revents & POLLIN) && (signal_seen = signals.take()) != 0) break;
    if (fds[0].revents) {
      proxy.output.drain();
      continue;
    }
    if (n == 0) {
      return Error{"awf-proxy was not ready within " + std::to_string(config.proxy_ready_timeout.count()) + " ms" +
                   proxy.output.tail()};
    }
  }
  return ok_status();
}

void stop_proxy(Proxy& proxy, std::chrono::milliseconds grace, const Diagnostics& diag) {
  if (proxy.child.running()) {
    startup_trace::mark("proxy stop");
    proxy.child.signal(SIGTERM);
    const auto deadline = Clock::now() + grace;
    // Its process's exit (threads, memory) need not be waited for here:
    // the logs are complete once it says so.
    while (!proxy.output.logs_closed() && proxy.child.try_reap() < 0) {
      const int left = remaining_ms(deadline);
      if (left == 0) {
        proxy.child.kill_and_reap();
        diag.warn("awf-proxy did not stop within " + std::to_string(grace.count()) +
                  " ms and was killed; its logs may be incomplete");
        break;
      }
      pollfd fds[2] = {{proxy.child.pidfd(), POLLIN, 0}, {proxy.output.fd(), POLLIN, 0}};
      const nfds_t n = proxy.output.open() ? 2 : 1;
      const bool have_pidfd = proxy.child.pidfd() >= 0;
      ::poll(have_pidfd ? fds : fds + 1, have_pidfd ? n : n - 1, have_pidfd ? left : std::min(left, 10));
      if (proxy.output.open()) proxy.output.drain_available();
    }
  }
  proxy.output.drain_available();
}

void reap_proxy(Proxy& proxy, std::chrono::milliseconds grace, const Diagnostics& diag) {
  if (proxy.child.running()) {
    const auto deadline = Clock::now() + grace;
    while (proxy.child.try_reap() < 0) {
      const int left = remaining_ms(deadline);
      if (left == 0) {
        proxy.child.kill_and_reap();
        diag.warn("awf-proxy did not exit within " + std::to_string(grace.count()) +
                  " ms of closing its logs and was killed");
        break;
      }
      pollfd p{proxy.child.pidfd(), POLLIN, 0};
      if (p.fd >= 0) {
        ::poll(&p, 1, left);
      } else {
        ::poll(nullptr, 0, std::min(left, 10));
      }
    }
  }
  proxy.output.drain_available();
}

}  // namespace awf::runtime
