// The agent: its first process, PID 1 of new namespaces, which sets up the
// network from inside and then execs awf-entrypoint. Both halves are here:
// the child's steps, and awf's side that creates it, answers it over the
// control channel, and stops it.
#pragma once

#include <signal.h>

#include <chrono>

#include "awf/unique_fd.h"
#include "awf/result.h"
#include "awf/runtime/cleanup.h"
#include "control_channel.h"
#include "deadline.h"
#include "plan.h"
#include "signal_watch.h"

namespace awf::runtime {

// Members in this order so that the agent is killed before its control
// channel closes, when the run ends early.
struct Agent {
  UniqueFd control;  // awf's end of the control channel
  Child child;
  Message listeners;  // kListeners: the proxy's listeners, opened inside
};

// Clones the agent into its namespaces (writing its ID maps when it has a
// user namespace) and waits until `deadline` for the listeners it opens. A
// signal to awf ends the wait early without an error: it is then in
// `signal_seen`, and `listeners` is empty.
Result<Agent> start_agent(Plan& plan, const SignalWatch& signals, Clock::time_point deadline, int& signal_seen);

// How long the entrypoint may take, from awf's 'G', to pass its start gate
// (it builds the view meanwhile, usually done by then).
inline constexpr std::chrono::milliseconds kEntrypointReadyTimeout{60'000};

// Tells the entrypoint the command may start ('G' at its start gate) and
// waits for the answer: EOF (the entrypoint closed the gate: passed, or
// ended with its own error on stderr) is success, a kError message from the
// agent's first process (ruleset, exec) the failure. A signal to awf ends
// the wait early without an error, in `signal_seen`.
Status start_command(Agent& agent, const SignalWatch& signals, int& signal_seen);

// Ends an agent whose command never started: closes the start gate, waits up
// to `grace` for the entrypoint to clean up and exit, then SIGKILL.
void abort_agent(Agent& agent, std::chrono::milliseconds grace);

// The agent's first process, in the child of the clone: finish the
// namespaces from inside, send the listeners out, apply the ruleset, exec the
// entrypoint with the control channel as its start gate (--start-gate).
// Never returns. Errors go to the parent as a kError message.
[[noreturn]] void run_agent_child(int control, Plan& plan, const sigset_t& original_mask);

// Stops the agent (the entrypoint) with `sig`, SIGKILL after `grace`; its
// PID-1 wait status becomes the result.
int stop_agent(Child& agent, int sig, std::chrono::milliseconds grace);

}  // namespace awf::runtime
