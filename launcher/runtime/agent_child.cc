// The agent's first process and awf's half of its start-up. It sets up its
// network from inside (lo, routes, nft, listeners): this works the same
// rootless, where awf itself could not setns(2) into a namespace owned by
// another user namespace.
#include "agent_child.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <string>
#include <vector>

#include "awf/runtime/namespaces.h"
#include "awf/runtime/netns_setup.h"
#include "awf/runtime/nft_ruleset.h"
#include "awf/runtime/runtime.h"
#include "awf/errno_text.h"
#include "awf/startup_trace.h"

namespace awf::runtime {

using std::chrono::milliseconds;

Result<Agent> start_agent(Plan& plan, const SignalWatch& signals, Clock::time_point deadline, int& signal_seen) {
  int control_pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control_pair) != 0) {
    return Error{"socketpair: " + errno_text(errno)};
  }
  UniqueFd control(control_pair[0]), child_control(control_pair[1]);
  startup_trace::mark("clone");
  auto cloned = clone_into_namespaces(namespace_clone_flags(plan.user_namespace));
  if (!cloned) return cloned.error();
  if (*cloned == 0) {
    control.reset();
    run_agent_child(child_control.get(), plan, signals.previous_mask());
  }
  Child agent(*cloned);
  child_control.reset();
  if (plan.user_namespace) {
    if (auto status = write_id_maps(agent.pid(), ::getuid(), ::getgid()); !status) {
      const std::string hint = user_namespace_hint();
      return Error{status.message() + (hint.empty() ? "" : "; " + hint)};
    }
    if (auto status = send_message(control.get(), kMapsWritten, {}); !status) return status.error();
  }
  auto listeners = await_message(control.get(), signals, deadline, "the agent namespace", signal_seen);
  if (!listeners && signal_seen != 0) return Agent{std::move(control), std::move(agent), Message{}};
  if (!listeners) return listeners.error();
  if (listeners->tag == kError) return Error{listeners->payload};
  if (listeners->tag != kListeners || listeners->fds.size() != listeners->payload.size() || listeners->fds.empty()) {
    return Error{"the agent namespace's first process exited during set-up (status " +
                 std::to_string(exit_code_from_wait_status(agent.kill_and_reap())) + ")"};
  }
  return Agent{std::move(control), std::move(agent), std::move(*listeners)};
}

Status start_command(Agent& agent, const SignalWatch& signals, int& signal_seen) {
  if (auto status = send_message(agent.control.get(), kGo, {}); !status) {
    // The gate is closed: the agent's first process failed (its reason is
    // still queued), or the entrypoint ended during its set-up, having said
    // why on stderr; its exit status is then the run's.
    auto reason = receive_message(agent.control.get());
    if (reason && reason->tag == kError) return Error{reason->payload};
    return ok_status();
  }
  // The entrypoint closes the gate when it passes it (or exits).
  auto passed = await_message(agent.control.get(), signals, Clock::now() + kEntrypointReadyTimeout,
                              "the entrypoint to start the command", signal_seen);
  if (!passed && signal_seen == 0) return passed.error();
  if (passed && passed->tag == kError) return Error{passed->payload};
  return ok_status();
}

void abort_agent(Agent& agent, milliseconds grace) {
  // EOF at the start gate: the entrypoint stops before the command, removing
  // what it made (its mounts go with its namespace, its directory does not).
  agent.control.reset();
  const auto deadline = Clock::now() + grace;
  while (agent.child.running()) {
    if (agent.child.try_reap() >= 0) return;
    const int left = remaining_ms(deadline);
    if (left == 0 || agent.child.pidfd() < 0) break;
    pollfd p{agent.child.pidfd(), POLLIN, 0};
    ::poll(&p, 1, left);
  }
  agent.child.kill_and_reap();
}

void run_agent_child(int control, Plan& plan, const sigset_t& original_mask) {
  auto fail = [&](const std::string& message) {
    (void)send_message(control, kError, message);
    ::_exit(kExitFailure);
  };
  // getppid() is 0 across a PID namespace; EOF on `control` covers a parent
  // that died before this line.
  die_with_parent(0);
  if (plan.user_namespace) {
    // The maps must exist before anything needs an identity inside.
    auto go = receive_message(control);
    if (!go || go->tag != kMapsWritten) ::_exit(kExitFailure);
    if (auto status = keep_capabilities_across_exec(); !status) fail(status.message());
  }
  startup_trace::mark("agent: in namespaces");
  if (auto status = make_mounts_private(); !status) fail(status.message());
  if (auto status = bring_up_loopback(); !status) fail(status.message());
  if (auto status = add_default_routes_via_loopback(); !status) fail(status.message());
  startup_trace::mark("agent: lo and routes");
  {
    auto listeners = open_agent_listeners(plan.ruleset.ports);
    if (!listeners) fail(listeners.message());
    std::string kinds;
    std::vector<int> fds;
    for (const auto& l : *listeners) {
      kinds += static_cast<char>(l.kind);
      fds.push_back(l.fd.get());
    }
    if (auto status = send_message(control, kListeners, kinds, fds); !status) fail(status.message());
    startup_trace::mark("agent: listeners sent");
    // Our copies close here: the command must never hold the proxy's
    // listeners (it could accept the connections meant for the proxy).
  }
  // The ruleset goes in while awf starts the proxy: the entrypoint is
  // exec'd only after it is in place, and the command starts only after
  // that. A failure reaches awf as the answer to 'G'. The namespace is new:
  // no table to replace (Existing::none spares the wait a deleted table
  // costs).
  if (auto status = apply_ruleset(render_ruleset(plan.ruleset, Ipv6::served, Existing::none)); !status) {
    fail(status.message());
  }
  startup_trace::mark("agent: ruleset applied");
  ::sigprocmask(SIG_SETMASK, &original_mask, nullptr);
  // Descriptors awf inherited without close-on-exec (a CI runner's, a
  // caller's) must not reach the command: an fd of a host directory is a way
  // around any chroot. Only stdin, stdout and stderr cross, and the control
  // channel as the entrypoint's start gate: it builds the command's view
  // while awf starts the proxy, and starts the command only on 'G' (EOF:
  // never). The entrypoint closes it before the command exists.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail("close_range: " + errno_text(errno));
  // Descriptor 3 (what it replaces is close-on-exec, so nothing lost).
  constexpr int kGate = 3;
  if (control != kGate && ::dup2(control, kGate) != kGate) fail("dup2 of the control channel: " + errno_text(errno));
  if (::fcntl(kGate, F_SETFD, 0) != 0) fail("fcntl(F_SETFD) on the control channel: " + errno_text(errno));
  const auto separator = std::find(plan.agent_argv.begin(), plan.agent_argv.end(), std::string("--"));
  plan.agent_argv.insert(separator, {"--start-gate", std::to_string(kGate)});
  auto argv = c_strings(plan.agent_argv);
  auto envp = c_strings(plan.agent_env);
  ::execve(plan.entrypoint_path.c_str(), argv.data(), envp.data());
  fail("cannot execute " + plan.entrypoint_path + ": " + errno_text(errno));
  ::_exit(kExitFailure);
}

int stop_agent(Child& agent, int sig, milliseconds grace) {
  if (!agent.running()) return agent.try_reap();
  // The entrypoint forwards the signal to the command; PID 1 ignores
  // signals it has no handler for, hence SIGKILL after the grace period,
  // which ends the whole PID namespace (pid_namespaces(7)).
  agent.signal(sig);
  const auto deadline = Clock::now() + grace;
  while (agent.running()) {
    if (int status = agent.try_reap(); status >= 0) return status;
    const int left = remaining_ms(deadline);
    if (left == 0) return agent.kill_and_reap();
    pollfd p{agent.pidfd(), POLLIN, 0};
    ::poll(&p, 1, agent.pidfd() >= 0 ? left : std::min(left, 10));
  }
  return agent.try_reap();
}

}  // namespace awf::runtime
