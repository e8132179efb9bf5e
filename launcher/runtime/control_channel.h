// The control channel between awf and the agent's first process: a
// SOCK_SEQPACKET socketpair, which keeps message boundaries. One message is a
// tag byte and a payload, with descriptors attached (SCM_RIGHTS) for 'L'. The
// child's end crosses into awf-entrypoint as its start gate: EOF after 'G'
// means the entrypoint passed it (or ended).
#pragma once

#include <string>
#include <vector>

#include "awf/unique_fd.h"
#include "awf/result.h"
#include "deadline.h"
#include "signal_watch.h"

namespace awf::runtime {

// The tags, in the order they travel.
inline constexpr char kMapsWritten = 'M';  // awf -> child: ID maps in place (user namespace only)
inline constexpr char kListeners = 'L';    // child -> awf: payload = their kinds, one byte each; fds attached
inline constexpr char kGo = 'G';           // awf -> entrypoint: start the command (the proxy serves)
inline constexpr char kError = 'E';        // child -> awf: payload = the error message

struct Message {
  char tag = 0;  // 0: EOF
  std::string payload;
  std::vector<UniqueFd> fds;
};

Status send_message(int fd, char tag, const std::string& payload, const std::vector<int>& fds = {});

// Blocks until the next message (or EOF) arrives.
Result<Message> receive_message(int fd);

// Waits for the next message until `deadline`, giving up early if awf is
// signalled: the signal is then stored in `signal_seen` (the caller stops
// everything). `what` names the wait in the error.
Result<Message> await_message(int control, const SignalWatch& signals, Clock::time_point deadline, const char* what,
                              int& signal_seen);

}  // namespace awf::runtime
