// awf-proxy as awf's child in the host namespace: started with the agent's
// listeners (socket activation), its output read for the ready line and kept
// as a tail for crash reports, and stopped so that its logs are complete.
#pragma once

#include <signal.h>

#include <chrono>
#include <deque>
#include <string>
#include <vector>

#include "awf/unique_fd.h"
#include "awf/result.h"
#include "awf/runtime/cleanup.h"
#include "awf/runtime/runtime.h"
#include "deadline.h"
#include "diagnostics.h"
#include "plan.h"
#include "signal_watch.h"

namespace awf::runtime {

// The proxy's stdout and stderr: "ready", then a tail kept for crash reports.
// With --log-level debug every line is also forwarded to awf's stderr.
class ProxyOutput {
 public:
  ProxyOutput(UniqueFd fd, const Diagnostics& diag) : fd_(std::move(fd)), diag_(diag) {}
  int fd() const { return fd_.get(); }
  bool open() const { return fd_.valid(); }
  bool ready() const { return ready_; }
  // Its "logs closed" line came: every log line is written.
  bool logs_closed() const { return logs_closed_; }
  // Reads what is available; true when it read something (false when there
  // is nothing right now, or at EOF, which also closes the pipe).
  bool drain();
  // Reads until there is nothing more right now, or EOF.
  void drain_available() {
    while (open() && drain()) {
    }
  }
  // The last lines, each on its own indented line, to append to a message.
  std::string tail() const;

 private:
  void line(const std::string& text);
  UniqueFd fd_;
  const Diagnostics& diag_;
  std::string partial_;
  std::deque<std::string> tail_;
  bool ready_ = false;
  bool logs_closed_ = false;
};

struct Proxy {
  Child child;
  ProxyOutput output;
};

// Forks and execs plan.proxy_argv with the listeners as socket-activated
// descriptors 3.. (`kinds`: one ListenerKind byte per descriptor), stdin from
// /dev/null, stdout and stderr into a pipe, `original_mask` restored. The
// listeners are the proxy's afterwards: awf's copies are closed here.
Result<Proxy> start_proxy(Plan& plan, std::vector<UniqueFd>& listener_fds, const std::string& kinds,
                          const sigset_t& original_mask, const Diagnostics& diag);

// Reads the proxy's output until its ready line, failing when it exits first
// or `deadline` passes. A signal to awf ends the wait early without an error:
// it is then in `signal_seen`.
Status wait_for_proxy_ready(Proxy& proxy, const SignalWatch& signals, Clock::time_point deadline,
                            const RuntimeConfig& config, int& signal_seen);

// SIGTERM (the proxy drains and flushes its logs); returns once the proxy
// says its logs are closed or has exited, SIGKILL after `grace` with a
// warning that the logs may be incomplete. The logs are complete then; the
// process may still be exiting (reap_proxy).
void stop_proxy(Proxy& proxy, std::chrono::milliseconds grace, const Diagnostics& diag);

// After stop_proxy: waits for the proxy's exit (SIGKILL after `grace`), then
// reads its last output.
void reap_proxy(Proxy& proxy, std::chrono::milliseconds grace, const Diagnostics& diag);

}  // namespace awf::runtime
