// Listening sockets handed over the systemd way (sd_listen_fds(3)): the
// receiving half for awf-proxy, and the sending half for launchers.
#pragma once

#include <sys/types.h>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "awf/intercept/listener_kind.h"
#include "awf/unique_fd.h"
#include "awf/result.h"

namespace awf::intercept {

inline constexpr int kListenFdsStart = 3;     // SD_LISTEN_FDS_START
inline constexpr int kMaxActivatedFds = 64;   // far above the ten kinds we serve

// The three variables, as found in the environment (nullopt when unset).
struct ActivationEnv {
  std::optional<std::string> listen_fds;
  std::optional<std::string> listen_pid;
  std::optional<std::string> listen_fdnames;

  static ActivationEnv from_process();  // getenv() of the three
};

struct InheritedListener {
  ListenerKind kind;
  UniqueFd fd;
};

// Checks and adopts descriptors first_fd .. first_fd+LISTEN_FDS-1: LISTEN_PID
// must be `self`, every LISTEN_FDNAMES entry a ListenerKind name, every fd a
// socket of the kind's type (SOCK_DGRAM for dns-udp, a listening SOCK_STREAM
// otherwise). Sets FD_CLOEXEC so the descriptors do not leak into programs
// the proxy might start. No LISTEN_FDS at all means no activation: an empty
// list. first_fd is a parameter for tests only.
Result<std::vector<InheritedListener>> adopt_listeners(const ActivationEnv& env, pid_t self,
                                                       int first_fd = kListenFdsStart);

// adopt_listeners() on this process's environment and pid; the three
// variables are removed first, whatever the outcome, so a child of the proxy
// never mistakes them for its own (sd_listen_fds(3) unset_environment).
Result<std::vector<InheritedListener>> take_activated_listeners();

// ---- the launcher's half ----

struct PassedListener {
  ListenerKind kind;
  int fd;  // borrowed: stays open and owned by the caller in the parent
};

// Everything a child needs to receive listeners the systemd way, prepared
// before fork() so that the child only runs async-signal-safe code between
// fork() and execve() (a multi-threaded parent's child may not malloc).
class ListenerHandoff {
 public:
  // base_env: the child's environment as "KEY=VALUE" strings; LISTEN_* entries
  // in it are replaced by ours.
  static Result<ListenerHandoff> prepare(std::span<const PassedListener> listeners,
                                         std::vector<std::string> base_env);

  // In the child after fork(): moves the descriptors to 3, 4, ... (clearing
  // FD_CLOEXEC on them) and writes getpid() into LISTEN_PID. Returns 0 or an
  // errno value. Async-signal-safe.
  int apply_in_child() noexcept;

  // The environment for execve(); valid while this object lives.
  char* const* envp() const { return const_cast<char* const*>(envp_.data()); }
  const std::vector<std::string>& environment() const { return env_; }

 private:
  ListenerHandoff() = default;
  std::vector<int> source_fds_;
  std::vector<int> scratch_fds_;  // sized up front: no allocation in the child
  // The vectors own the strings' storage; moving a vector keeps element
  // addresses, so envp_ stays valid when the handoff is moved.
  std::vector<std::string> env_;
  std::vector<char*> envp_;
  std::size_t pid_entry_ = 0;  // index of "LISTEN_PID=" in env_
};

}  // namespace awf::intercept
