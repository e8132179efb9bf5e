// run_native(): the native runtime's ordered steps. Create the agent's
// namespaces (its network set up from inside), hand the listeners it opened
// to awf-proxy in the host namespace, wait for the proxy, exec the entrypoint,
// then supervise: exit code, timeout, signals, proxy crash, cleanup.
#include <poll.h>
#include <signal.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "agent_child.h"
#include "awf/runtime/cleanup.h"
#include "awf/runtime/runtime.h"
#include "awf/runtime/safe_tree.h"
#include "awf/runtime/session_ca.h"
#include "deadline.h"
#include "diagnostics.h"
#include "awf/errno_text.h"
#include "awf/startup_trace.h"
#include "plan.h"
#include "proxy_process.h"
#include "run_logs.h"
#include "signal_watch.h"

namespace awf::runtime {
namespace {

namespace fs = std::filesystem;

// Until the command may start, every way out of run_native ends the agent
// through its start gate (abort_agent), so that the entrypoint, which
// builds the command's view meanwhile, cleans up after itself.
class AbortUnlessStarted {
 public:
  AbortUnlessStarted(Agent& agent, std::chrono::milliseconds grace) : agent_(agent), grace_(grace) {}
  AbortUnlessStarted(const AbortUnlessStarted&) = delete;
  AbortUnlessStarted& operator=(const AbortUnlessStarted&) = delete;
  ~AbortUnlessStarted() {
    if (!started_) abort_agent(agent_, grace_);
  }
  void started() { started_ = true; }

 private:
  Agent& agent_;
  std::chrono::milliseconds grace_;
  bool started_ = false;
};

// Ctrl-C during set-up still means 130 (143 for SIGTERM), as in awf. Nothing
// of the command ran yet: the agent is stopped, and the run ends here.
int stop_during_setup(Agent& agent, int sig, std::chrono::milliseconds grace, const Diagnostics& diag) {
  abort_agent(agent, grace);
  const int code = exit_code_for_signal(sig);
  diag.warn(std::string("Received ") + signal_name(sig) + " during start-up");
  print_exit_line(code);
  return code;
}

enum class Ending { command_exited, timed_out, signalled, proxy_died };

struct Outcome {
  Ending ending = Ending::command_exited;
  int agent_status = 0;  // command_exited: the agent's wait status
  int signal = 0;        // signalled: SIGINT or SIGTERM
};

// Waits until the command ends, the timeout fires, awf is signalled (also
// before: `signal_seen` from start-up), or the proxy dies under the command,
// forwarding the proxy's output meanwhile.
Outcome supervise(Child& agent, Proxy& proxy, const SignalWatch& signals,
                  std::optional<std::chrono::milliseconds> timeout, int signal_seen, const Diagnostics& diag) {
  Outcome outcome{signal_seen ? Ending::signalled : Ending::command_exited, 0, signal_seen};
  const bool has_deadline = timeout.has_value();
  const Clock::time_point command_deadline = has_deadline ? Clock::now() + *timeout : Clock::time_point{};
  while (outcome.signal == 0) {
    if (int status = agent.try_reap(); status >= 0) {
      outcome.agent_status = status;
      break;
    }
    std::vector<pollfd> fds = {{agent.pidfd(), POLLIN, 0}, {proxy.child.pidfd(), POLLIN, 0},
                               {signals.fd(), POLLIN, 0}};
    if (proxy.output.open()) fds.push_back({proxy.output.fd(), POLLIN, 0});
    int wait_ms = has_deadline ? remaining_ms(command_deadline) : -1;
    if (agent.pidfd() < 0) wait_ms = wait_ms < 0 ? 50 : std::min(wait_ms, 50);  // no pidfd: poll the pid
    const int n = ::poll(fds.data(), fds.size(), wait_ms);
    if (n < 0 && errno != EINTR) {
      diag.error("poll: " + errno_text(errno));
      break;
    }
    if (n > 0 && fds.size() > 3 && fds[3].revents) proxy.output.drain();
    if (n > 0 && (fds[2].revents & POLLIN)) {
      if ((outcome.signal = signals.take()) != 0) {
        outcome.ending = Ending::signalled;
        break;
      }
    }
    if (int status = agent.try_reap(); status >= 0) {
      outcome.agent_status = status;
      break;
    }
    if (proxy.child.try_reap() >= 0) {
      outcome.ending = Ending::proxy_died;
      break;
    }
    if (has_deadline && remaining_ms(command_deadline) == 0) {
      outcome.ending = Ending::timed_out;
      break;
    }
  }
  return outcome;
}

// Stops what is left of the command for `outcome` and returns awf's exit
// code for it.
int finish_command(const Outcome& outcome, Child& agent, Proxy& proxy, const RuntimeConfig& config,
                   bool command_started, const Diagnostics& diag) {
  switch (outcome.ending) {
    case Ending::command_exited:
      return exit_code_from_wait_status(outcome.agent_status);
    case Ending::timed_out:
      diag.warn("Agent command timed out after " + describe_duration(*config.agent_timeout) + "; stopping it");
      stop_agent(agent, SIGTERM, config.stop_grace);
      return kExitTimeout;
    case Ending::signalled:
      diag.warn(std::string("Received ") + signal_name(outcome.signal) + ", stopping the command and cleaning up");
      if (command_started) {
        stop_agent(agent, outcome.signal, config.stop_grace);
      } else {
        agent.kill_and_reap();  // still in set-up, its signals blocked: nothing to wait for
      }
      return exit_code_for_signal(outcome.signal);
    case Ending::proxy_died: {
      const int status = proxy.child.try_reap();
      stop_agent(agent, SIGTERM, config.stop_grace);
      proxy.output.drain_available();
      diag.error("awf-proxy exited while the command was running (" + describe_wait_status(status) +
                 "); the command was stopped because it had no network left" + proxy.output.tail());
      return kExitFailure;
    }
  }
  return 0;
}

// Where the run's CA key is kept: a directory of root's on the tmpfs at
// /dev/shm, so that the key is never written to a disk, when awf runs as
// root and the machine has one (the command runs as another user and
// cannot enter it); else <work>/ssl, which the command's private /tmp hides.
// Removed when the run ends.
class KeyDir {
 public:
  KeyDir() = default;
  KeyDir(const KeyDir&) = delete;
  KeyDir& operator=(const KeyDir&) = delete;
  ~KeyDir() {
    std::error_code ec;
    if (!path_.empty()) fs::remove_all(path_, ec);
  }
  Result<fs::path> make(const WorkDir& work) {
    struct statfs fs_info {};
    if (::geteuid() == 0 && ::statfs("/dev/shm", &fs_info) == 0 && fs_info.f_type == TMPFS_MAGIC) {
      char name[] = "/dev/shm/awf-ssl-XXXXXX";  // mkdtemp: 0700
      if (::mkdtemp(name) != nullptr) return path_ = name;
    }
    const fs::path in_work = work.path() / "ssl";
    AWF_TRY(make_directory(in_work, 0700));
    return in_work;  // removed with the work directory
  }

 private:
  fs::path path_;  // the /dev/shm directory, when one was made
};

// --ssl-bump: the run's CA (its key in `keys`) and the command's trust
// bundle in its private /tmp, where it reads it as
// /tmp/awf-ssl/ca-bundle.pem.
Result<RuntimeConfig> with_session_ca(const RuntimeConfig& config, const WorkDir& work, const RunDirectories& dirs,
                                      KeyDir& keys, const Diagnostics& diag) {
  if (dirs.private_tmp.empty()) {
    return Error{"--ssl-bump cannot be combined with --share-host-tmp: the CA bundle the command trusts is placed in "
                 "its private /tmp"};
  }
  AWF_TRY_ASSIGN(const fs::path key_dir, keys.make(work));
  diag.debug("--ssl-bump: the run's CA key is in " + key_dir.string());
  const fs::path bundle_dir = dirs.private_tmp / "awf-ssl";
  AWF_TRY(make_directory(bundle_dir, 0755));
  AWF_TRY_ASSIGN(SessionCa ca, make_session_ca(key_dir, bundle_dir / "ca-bundle.pem"));
  RuntimeConfig with_ca = config;
  with_ca.ssl_bump_cert = ca.cert.string();
  with_ca.ssl_bump_key = ca.key.string();
  with_ca.ssl_bump_bundle = "/tmp/awf-ssl/ca-bundle.pem";
  return with_ca;
}

}  // namespace

Result<int> run_native(const RuntimeConfig& config) {
  const Diagnostics diag(config.log_level);
  const auto started = Clock::now();

  // 1. Work and log directories, then everything the children need, prepared
  //    before any process exists.
  const std::string tmp = temp_root(config.tmp_dir);
  auto work = WorkDir::create(tmp, config.work_dir);
  if (!work) return work.error();
  if (config.keep_work_dir) work->keep();
  auto dirs = make_run_directories(config, *work);
  if (!dirs) return dirs.error();
  if (config.on_log_dir) config.on_log_dir(dirs->log_dir.string());
  // With --ssl-bump, the plan is made from a copy that names the run's CA.
  std::optional<RuntimeConfig> with_ca;
  KeyDir ca_keys;
  if (config.ssl_bump) {
    auto made = with_session_ca(config, *work, *dirs, ca_keys, diag);
    if (!made) return made.error();
    with_ca = std::move(*made);
  }
  startup_trace::mark("run directories made");
  auto plan = make_plan(with_ca ? *with_ca : config, dirs->log_dir, dirs->private_tmp);
  if (!plan) return plan.error();
  startup_trace::mark("plan made");
  auto signals = SignalWatch::start();
  if (!signals) return signals.error();
  int signal_seen = 0;
  const auto startup_deadline = Clock::now() + config.proxy_ready_timeout;

  // 2. The agent's namespaces, which hand out the proxy's listeners.
  auto agent = start_agent(*plan, *signals, startup_deadline, signal_seen);
  if (!agent) return agent.error();
  AbortUnlessStarted agent_guard(*agent, config.stop_grace);
  if (signal_seen != 0) return stop_during_setup(*agent, signal_seen, config.stop_grace, diag);
  startup_trace::mark("listeners received");
  diag.debug("agent namespaces ready (pid " + std::to_string(agent->child.pid()) + ", " +
             (plan->user_namespace ? "with" : "without") + " user namespace) after " + elapsed_ms(started) + " ms");

  // 3. awf-proxy in the host namespace, with the listeners; wait for ready.
  //    Meanwhile the agent applies the ruleset and the entrypoint builds the
  //    command's view, up to its start gate.
  auto proxy = start_proxy(*plan, agent->listeners.fds, agent->listeners.payload, signals->previous_mask(), diag);
  if (!proxy) return proxy.error();
  startup_trace::mark("proxy started");
  if (auto status = wait_for_proxy_ready(*proxy, *signals, startup_deadline, config, signal_seen); !status) {
    return status.error();
  }

  // 4. Go: the entrypoint starts the command, unless awf was signalled
  //    already.
  const bool command_started = signal_seen == 0;
  PidFile proxy_pid_file;
  if (command_started) {
    startup_trace::mark("proxy ready");
    proxy_pid_file = announce_live_proxy(config, plan->log_dir, proxy->child.pid(), diag);
    diag.debug("awf-proxy ready after " + elapsed_ms(started) + " ms");
    if (auto status = start_command(*agent, *signals, signal_seen); !status) return status.error();
    startup_trace::mark("start gate passed");
    agent_guard.started();
  } else {
    abort_agent(*agent, config.stop_grace);
  }
  agent->control.reset();

  // 5. Supervise until the command ends, then stop what is left of it.
  const Outcome outcome = supervise(agent->child, *proxy, *signals, config.agent_timeout, signal_seen, diag);
  startup_trace::mark("command ended");
  int code = finish_command(outcome, agent->child, *proxy, config, command_started, diag);
  // The command's private /tmp goes while the proxy stops: nothing writes
  // there any more (every process of the agent's PID namespace died with
  // its PID 1, reaped above), and on a disk that frees a directory
  // synchronously (ext4 with discard: milliseconds each) the wait overlaps.
  // Joined before run_native returns; the work directory's removal takes
  // whatever it left.
  std::jthread private_tmp_removal;
  if (!dirs->private_tmp.empty() && !config.keep_work_dir) {
    private_tmp_removal = std::jthread([&work, &dirs] {
      if (auto parent = open_directory(work->path().string())) {
        (void)remove_tree_at(parent->get(), dirs->private_tmp.filename().string(), dirs->private_tmp.string());
      }
    });
  }

  // 6. Clean up: the proxy flushes its logs on SIGTERM; the namespaces went
  //    with the agent's PID 1. The proxy has stopped writing before its pid
  //    file goes: its logs are complete (a follower that sees the file go has
  //    read everything), and the file must not be preserved with them. Its
  //    process is reaped at the end, its exit overlapping the report.
  stop_proxy(*proxy, config.proxy_stop_grace, diag);
  startup_trace::mark("proxy stopped");
  proxy_pid_file.remove();
  if (config.on_finished) config.on_finished(code, plan->log_dir.string());
  if (!keep_proxy_logs(config, *plan, *work, tmp, diag) && code == 0) code = kExitFailure;
  startup_trace::mark("logs kept");
  if (config.keep_work_dir) diag.info("Work directory kept at: " + work->path().string());
  if (private_tmp_removal.joinable()) private_tmp_removal.join();
  startup_trace::mark("private /tmp removed");
  reap_proxy(*proxy, config.proxy_stop_grace, diag);
  print_exit_line(code);
  return code;
}

}  // namespace awf::runtime
