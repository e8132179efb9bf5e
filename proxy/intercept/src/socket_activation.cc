// Socket activation both ways: awf-proxy adopting LISTEN_FDS descriptors, and
// a launcher placing descriptors at 3.. in a child (sd_listen_fds(3)).
#include "awf/intercept/socket_activation.h"
#include "awf/errno_text.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <cstring>

namespace awf::intercept {

namespace {


std::string quoted(const std::string& s) { return "\"" + s + "\""; }

std::optional<long> parse_decimal(const std::string& text) {
  long value = 0;
  const char* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc() || ptr != end || value < 0) return std::nullopt;
  return value;
}

std::vector<std::string> split_names(const std::string& names) {
  std::vector<std::string> out;
  std::size_t start = 0;
  for (;;) {
    const std::size_t colon = names.find(':', start);
    out.push_back(names.substr(start, colon == std::string::npos ? std::string::npos : colon - start));
    if (colon == std::string::npos) break;
    start = colon + 1;
  }
  return out;
}

const char* socket_type_name(int type) {
  switch (type) {
    case SOCK_STREAM: return "SOCK_STREAM";
    case SOCK_DGRAM: return "SOCK_DGRAM";
    case SOCK_SEQPACKET: return "SOCK_SEQPACKET";
    case SOCK_RAW: return "SOCK_RAW";
    default: return "an unusual socket type";
  }
}

// One inherited descriptor against what its name promises.
Status check_inherited_fd(int fd, ListenerKind kind) {
  const std::string what = "fd " + std::to_string(fd) + " (" + to_string(kind) + ")";
  struct stat st {};
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    return Error{"LISTEN_FDS: " + what + ": fstat: " + errno_text(err)};
  }
  if (!S_ISSOCK(st.st_mode)) return Error{"LISTEN_FDS: " + what + " is not a socket"};
  int type = 0;
  socklen_t len = sizeof type;
  if (::getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &len) != 0) {
    const int err = errno;
    return Error{"LISTEN_FDS: " + what + ": getsockopt(SO_TYPE): " + errno_text(err)};
  }
  const int want = is_datagram(kind) ? SOCK_DGRAM : SOCK_STREAM;
  if (type != want) {
    return Error{"LISTEN_FDS: " + what + " is a " + socket_type_name(type) + " socket, expected " +
                 socket_type_name(want)};
  }
  if (want == SOCK_STREAM) {
    int listening = 0;
    len = sizeof listening;
    if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0) {
      const int err = errno;
      return Error{"LISTEN_FDS: " + what + ": getsockopt(SO_ACCEPTCONN): " + errno_text(err)};
    }
    if (listening == 0) return Error{"LISTEN_FDS: " + what + " is not listening (listen(2) was never called)"};
  }
  const int flags = ::fcntl(fd, F_GETFD);
  if (flags < 0 || ::fcntl(fd, F_SETFD, flags | FD_CLOEXEC) != 0) {
    const int err = errno;
    return Error{"LISTEN_FDS: " + what + ": setting FD_CLOEXEC: " + errno_text(err)};
  }
  return ok_status();
}

}  // namespace

ActivationEnv ActivationEnv::from_process() {
  ActivationEnv env;
  auto get = [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  env.listen_fds = get("LISTEN_FDS");
  env.listen_pid = get("LISTEN_PID");
  env.listen_fdnames = get("LISTEN_FDNAMES");
  return env;
}

Result<std::vector<InheritedListener>> adopt_listeners(const ActivationEnv& env, pid_t self, int first_fd) {
  std::vector<InheritedListener> listeners;
  if (!env.listen_fds) {
    if (env.listen_fdnames) return Error{"LISTEN_FDNAMES is set but LISTEN_FDS is not"};
    return listeners;
  }
  const auto count = parse_decimal(*env.listen_fds);
  if (!count || *count > kMaxActivatedFds) {
    return Error{"LISTEN_FDS=" + quoted(*env.listen_fds) + " is not a descriptor count (0.." +
                 std::to_string(kMaxActivatedFds) + ")"};
  }
  // sd_listen_fds(3): the variables are meant for the process whose pid is
  // LISTEN_PID; inherited by anyone else they describe someone else's fds.
  if (!env.listen_pid) return Error{"LISTEN_FDS is set but LISTEN_PID is not"};
  const auto pid = parse_decimal(*env.listen_pid);
  if (!pid || *pid == 0) return Error{"LISTEN_PID=" + quoted(*env.listen_pid) + " is not a process id"};
  if (*pid != static_cast<long>(self)) {
    return Error{"LISTEN_PID=" + *env.listen_pid + " is not this process (pid " + std::to_string(self) +
                 "): the descriptors were passed to another program"};
  }
  // Names are required: without them we cannot tell an intercept listener from
  // the forward one, and guessing would serve the wrong protocol.
  if (!env.listen_fdnames) {
    return Error{"LISTEN_FDS=" + *env.listen_fds +
                 " needs LISTEN_FDNAMES (forward, http-intercept, tls-intercept, dns-udp, dns-tcp, api-<provider>)"};
  }
  if (*count == 0) {
    if (!env.listen_fdnames->empty()) {
      return Error{"LISTEN_FDNAMES=" + quoted(*env.listen_fdnames) + " names descriptors but LISTEN_FDS=0"};
    }
    return listeners;
  }
  const std::vector<std::string> names = split_names(*env.listen_fdnames);
  if (static_cast<long>(names.size()) != *count) {
    return Error{"LISTEN_FDNAMES=" + quoted(*env.listen_fdnames) + " names " + std::to_string(names.size()) +
                 " descriptors but LISTEN_FDS=" + *env.listen_fds};
  }
  std::vector<ListenerKind> kinds;
  for (std::size_t i = 0; i < names.size(); ++i) {
    auto kind = listener_kind_from_name(names[i]);
    if (!kind) {
      return Error{"LISTEN_FDNAMES entry " + quoted(names[i]) + " (fd " + std::to_string(first_fd + static_cast<int>(i)) +
                   ") is not a listener kind: expected forward, http-intercept, tls-intercept, dns-udp, dns-tcp, "
                   "api-openai, api-anthropic, api-copilot, api-gemini or api-vertex"};
    }
    kinds.push_back(*kind);
  }
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    const int fd = first_fd + static_cast<int>(i);
    if (auto status = check_inherited_fd(fd, kinds[i]); !status) return status.error();
  }
  // Ownership is taken only once every descriptor passed: on failure the
  // caller exits and nothing was closed behind its back.
  for (std::size_t i = 0; i < kinds.size(); ++i) {
    listeners.push_back(InheritedListener{kinds[i], UniqueFd(first_fd + static_cast<int>(i))});
  }
  return listeners;
}

Result<std::vector<InheritedListener>> take_activated_listeners() {
  const ActivationEnv env = ActivationEnv::from_process();
  ::unsetenv("LISTEN_FDS");
  ::unsetenv("LISTEN_PID");
  ::unsetenv("LISTEN_FDNAMES");
  return adopt_listeners(env, ::getpid());
}

Result<ListenerHandoff> ListenerHandoff::prepare(std::span<const PassedListener> listeners,
                                                 std::vector<std::string> base_env) {
  if (listeners.empty()) return Error{"no listeners to pass"};
  if (listeners.size() > static_cast<std::size_t>(kMaxActivatedFds)) {
    return Error{"too many listeners to pass (" + std::to_string(listeners.size()) + ")"};
  }
  ListenerHandoff handoff;
  std::string names;
  for (const auto& listener : listeners) {
    if (listener.fd < 0) return Error{std::string("listener ") + to_string(listener.kind) + " has no descriptor"};
    handoff.source_fds_.push_back(listener.fd);
    if (!names.empty()) names += ':';
    names += to_string(listener.kind);
  }
  handoff.scratch_fds_.assign(listeners.size(), -1);
  for (auto& entry : base_env) {
    if (entry.rfind("LISTEN_FDS=", 0) == 0 || entry.rfind("LISTEN_PID=", 0) == 0 ||
        entry.rfind("LISTEN_FDNAMES=", 0) == 0) {
      continue;
    }
    handoff.env_.push_back(std::move(entry));
  }
  handoff.env_.push_back("LISTEN_FDS=" + std::to_string(listeners.size()));
  handoff.env_.push_back("LISTEN_FDNAMES=" + names);
  handoff.pid_entry_ = handoff.env_.size();
  // Room for any pid; the child writes the digits and a NUL in place.
  handoff.env_.push_back("LISTEN_PID=" + std::string(20, '0'));
  for (auto& entry : handoff.env_) handoff.envp_.push_back(entry.data());
  handoff.envp_.push_back(nullptr);
  return handoff;
}

int ListenerHandoff::apply_in_child() noexcept {
  const int count = static_cast<int>(source_fds_.size());
  // First lift every source above the target range, so that placing one at
  // 3+i never closes another that still sits there.
  for (int i = 0; i < count; ++i) {
    const int fd = ::fcntl(source_fds_[static_cast<std::size_t>(i)], F_DUPFD_CLOEXEC, kListenFdsStart + count);
    if (fd < 0) return errno;
    scratch_fds_[static_cast<std::size_t>(i)] = fd;
  }
  for (int i = 0; i < count; ++i) {
    const int scratch = scratch_fds_[static_cast<std::size_t>(i)];
    // dup2 leaves FD_CLOEXEC clear on the new descriptor: it survives execve.
    int rc;
    do {
      rc = ::dup2(scratch, kListenFdsStart + i);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return errno;
    ::close(scratch);
  }
  // getpid() here is the child's own pid (in its pid namespace, which is what
  // it will compare against).
  char* digits = env_[pid_entry_].data() + std::strlen("LISTEN_PID=");
  char reversed[24];
  int n = 0;
  for (long pid = ::getpid(); pid > 0 || n == 0; pid /= 10) reversed[n++] = static_cast<char>('0' + pid % 10);
  for (int i = 0; i < n; ++i) digits[i] = reversed[n - 1 - i];
  digits[n] = '\0';
  return 0;
}

}  // namespace awf::intercept
