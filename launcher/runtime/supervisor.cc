// run_native(): the native runtime's ordered steps. Create the agent's
// namespaces (its network set up from inside), hand the listeners it opened
// to awf-proxy in the host namespace, wait for the proxy, exec the entrypoint,
// then supervise: exit code, timeout, signals, proxy crash, cleanup.
#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "awf/intercept/socket_activation.h"
#include "awf/intercept/unique_fd.h"
#include "awf/runtime/cleanup.h"
#include "awf/runtime/namespaces.h"
#include "awf/runtime/netns_setup.h"
#include "awf/runtime/runtime.h"

extern char** environ;

namespace awf::runtime {
namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using intercept::UniqueFd;
using std::chrono::milliseconds;

constexpr const char* kReadyLine = "awf-proxy: ready";
constexpr std::size_t kProxyTailLines = 20;

std::string errno_text(int err) { return std::string(std::strerror(err)) + " (errno " + std::to_string(err) + ")"; }

// ---- awf's stderr diagnostics ([INFO] ...), filtered by --log-level ----

int level_rank(const std::string& level) {
  if (level == "debug" || level == "trace") return 0;
  if (level == "warn" || level == "warning") return 2;
  if (level == "error") return 3;
  return 1;
}

class Diagnostics {
 public:
  explicit Diagnostics(const std::string& level) : rank_(level_rank(level)) {}
  bool debug_enabled() const { return rank_ == 0; }
  void debug(const std::string& m) const { write(0, "[DEBUG] ", m); }
  void info(const std::string& m) const { write(1, "[INFO] ", m); }
  void warn(const std::string& m) const { write(2, "[WARN] ", m); }
  void error(const std::string& m) const { write(3, "[ERROR] ", m); }

 private:
  void write(int rank, const char* prefix, const std::string& m) const {
    if (rank < rank_) return;
    std::fprintf(stderr, "%s%s\n", prefix, m.c_str());
    std::fflush(stderr);
  }
  int rank_;
};

int remaining_ms(Clock::time_point deadline) {
  const auto left = std::chrono::duration_cast<milliseconds>(deadline - Clock::now()).count();
  return left <= 0 ? 0 : static_cast<int>(std::min<long long>(left, 1 << 30));
}

// ---- signals: SIGINT/SIGTERM arrive on a signalfd while we supervise ----

class SignalWatch {
 public:
  static Result<SignalWatch> start() {
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
  SignalWatch(SignalWatch&& other) noexcept
      : fd_(std::move(other.fd_)), previous_(other.previous_), active_(std::exchange(other.active_, false)) {}
  SignalWatch& operator=(SignalWatch&&) = delete;
  ~SignalWatch() {
    if (active_) ::sigprocmask(SIG_SETMASK, &previous_, nullptr);
  }
  int fd() const { return fd_.get(); }
  const sigset_t& previous_mask() const { return previous_; }
  // The signal that arrived, or 0.
  int take() const {
    signalfd_siginfo info{};
    if (::read(fd_.get(), &info, sizeof info) != static_cast<ssize_t>(sizeof info)) return 0;
    return static_cast<int>(info.ssi_signo);
  }

 private:
  SignalWatch() = default;
  UniqueFd fd_;
  sigset_t previous_{};
  bool active_ = false;
};

// ---- the control channel between awf and the agent's first process ----
// SOCK_SEQPACKET keeps message boundaries; one message is a tag byte and a
// payload: 'M' maps written, 'G' go (exec), 'L' listeners (payload = their
// kinds, fds attached), 'E' an error message. The child's end is
// close-on-exec, so EOF after 'G' means the exec succeeded (STYLE.md).

Status send_message(int fd, char tag, const std::string& payload, const std::vector<int>& fds = {}) {
  std::string data(1, tag);
  data += payload;
  iovec iov{data.data(), data.size()};
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  std::vector<char> control;
  if (!fds.empty()) {
    control.assign(CMSG_SPACE(sizeof(int) * fds.size()), 0);
    msg.msg_control = control.data();
    msg.msg_controllen = control.size();
    cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
    cmsg->cmsg_level = SOL_SOCKET;
    cmsg->cmsg_type = SCM_RIGHTS;
    cmsg->cmsg_len = CMSG_LEN(sizeof(int) * fds.size());
    std::memcpy(CMSG_DATA(cmsg), fds.data(), sizeof(int) * fds.size());
  }
  ssize_t sent;
  do {
    sent = ::sendmsg(fd, &msg, MSG_NOSIGNAL);
  } while (sent < 0 && errno == EINTR);
  if (sent < 0) return Error{"control channel: send: " + errno_text(errno)};
  return ok_status();
}

struct Message {
  char tag = 0;  // 0: EOF
  std::string payload;
  std::vector<UniqueFd> fds;
};

Result<Message> receive_message(int fd) {
  std::array<char, 4096> data{};
  iovec iov{data.data(), data.size()};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int) * intercept::kMaxActivatedFds)];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t got;
  do {
    got = ::recvmsg(fd, &msg, MSG_CMSG_CLOEXEC);
  } while (got < 0 && errno == EINTR);
  if (got < 0) return Error{"control channel: receive: " + errno_text(errno)};
  Message out;
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c; c = CMSG_NXTHDR(&msg, c)) {
    if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS) continue;
    const std::size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);
    for (std::size_t i = 0; i < n; ++i) {
      int received;
      std::memcpy(&received, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
      out.fds.emplace_back(received);
    }
  }
  if (msg.msg_flags & MSG_CTRUNC) return Error{"control channel: descriptors truncated"};
  if (got == 0) return out;
  out.tag = data[0];
  out.payload.assign(data.data() + 1, static_cast<std::size_t>(got) - 1);
  return out;
}

// Waits for the next message with a deadline, giving up early if awf is
// signalled (the caller then stops everything).
Result<Message> await_message(int control, const SignalWatch& signals, Clock::time_point deadline, const char* what,
                              int& signal_seen) {
  for (;;) {
    pollfd fds[2] = {{control, POLLIN, 0}, {signals.fd(), POLLIN, 0}};
    const int n = ::poll(fds, 2, remaining_ms(deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{std::string("poll while waiting for ") + what + ": " + errno_text(errno)};
    if (n == 0) return Error{std::string("timed out waiting for ") + what};
    if (fds[1].revents & POLLIN) {
      if (int sig = signals.take(); sig != 0) {
        signal_seen = sig;
        return Error{std::string("interrupted by signal while waiting for ") + what};
      }
    }
    if (fds[0].revents) return receive_message(control);
  }
}

// ---- what each process runs ----

struct Plan {
  RulesetSpec ruleset;
  bool user_namespace = false;
  std::string proxy_path;
  std::vector<std::string> proxy_argv;
  std::string entrypoint_path;
  std::vector<std::string> agent_argv;
  std::vector<std::string> agent_env;
  fs::path log_dir;
  bool logs_dir_given = false;
};

std::string program_next_to_self(const char* name) {
  std::error_code ec;
  const fs::path self = fs::read_symlink("/proc/self/exe", ec);
  if (ec) return name;
  return (self.parent_path() / name).string();
}

std::string join(const std::vector<std::string>& items, const char* separator) {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += separator;
    out += item;
  }
  return out;
}

void set_env(std::vector<std::string>& env, const std::string& key, const std::string& value) {
  const std::string prefix = key + "=";
  std::erase_if(env, [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
  env.push_back(prefix + value);
}

bool has_env(const std::vector<std::string>& env, const std::string& key) {
  const std::string prefix = key + "=";
  return std::any_of(env.begin(), env.end(), [&](const std::string& e) { return e.rfind(prefix, 0) == 0; });
}

Result<Plan> make_plan(const RuntimeConfig& config, const fs::path& log_dir, const fs::path& private_tmp) {
  Plan plan;
  auto host_ports = parse_port_specs(config.allow_host_ports);
  if (!host_ports) return host_ports.error();
  plan.ruleset = RulesetSpec{config.ports, std::move(*host_ports)};
  plan.user_namespace = wants_user_namespace(config.user_namespace);
  plan.log_dir = log_dir;
  plan.logs_dir_given = !config.proxy_logs_dir.empty();

  plan.proxy_path = config.proxy_path.empty() ? program_next_to_self("awf-proxy") : config.proxy_path;
  plan.entrypoint_path =
      config.entrypoint_path.empty() ? program_next_to_self("awf-entrypoint") : config.entrypoint_path;
  for (const std::string* program : {&plan.proxy_path, &plan.entrypoint_path}) {
    if (::access(program->c_str(), X_OK) != 0) {
      return Error{"cannot run " + *program + ": " + errno_text(errno) +
                   " (awf-proxy and awf-entrypoint are installed next to awf)"};
    }
  }
  if (config.command.empty()) return Error{"No command specified. Use -- to separate command from options."};

  auto& p = plan.proxy_argv;
  p.push_back(plan.proxy_path);
  for (const auto& list : config.allow_domains) p.insert(p.end(), {"--allow-domains", list});
  if (!config.block_domains.empty()) p.insert(p.end(), {"--block-domains", join(config.block_domains, ",")});
  if (!config.allow_host_ports.empty()) p.insert(p.end(), {"--allow-host-ports", config.allow_host_ports});
  if (config.enable_host_access) p.push_back("--enable-host-access");
  if (!config.dns_servers.empty()) p.insert(p.end(), {"--dns-servers", join(config.dns_servers, ",")});
  if (!config.hosts_file.empty()) p.insert(p.end(), {"--hosts-file", config.hosts_file});
  if (!config.allow_private_ranges.empty()) {
    p.insert(p.end(), {"--allow-private-ranges", config.allow_private_ranges});
  }
  if (!config.dns_policy.empty()) p.insert(p.end(), {"--dns-policy", config.dns_policy});
  p.insert(p.end(), {"--log-dir", log_dir.string()});
  if (!config.log_level.empty()) p.insert(p.end(), {"--log-level", config.log_level});
  p.insert(p.end(), config.extra_proxy_args.begin(), config.extra_proxy_args.end());

  auto& a = plan.agent_argv;
  a.push_back(plan.entrypoint_path);
  a.insert(a.end(), config.entrypoint_args.begin(), config.entrypoint_args.end());
  if (!private_tmp.empty()) {
    a.insert(a.end(), {"--tmp", private_tmp.string()});
    for (const auto& path : config.tmp_binds) a.insert(a.end(), {"--mount", path + ":" + path + ":rw"});
  }
  a.push_back("--");
  a.insert(a.end(), config.command.begin(), config.command.end());

  // The agent's environment: the CLI's (awf_cli's build_agent_environment
  // already has the proxy variables, with -e allowed to change them), then
  // whatever it left out. Both spellings, since curl reads only the
  // lowercase http_proxy.
  auto& env = plan.agent_env;
  env = config.agent_env;
  auto set_default = [&env](const std::string& key, const std::string& value) {
    if (!has_env(env, key)) set_env(env, key, value);
  };
  const std::string proxy_url = "http://127.0.0.1:" + std::to_string(config.ports.forward);
  for (const char* key : {"HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy"}) set_default(key, proxy_url);
  for (const char* key : {"NO_PROXY", "no_proxy"}) set_default(key, "localhost,127.0.0.1,::1");
  if (plan.user_namespace) {
    // Rootless, the invoking user's IDs are the only ones the user namespace
    // maps: the command runs as exactly them, even below 1000 where awf
    // would substitute 1000.
    set_env(env, "AWF_USER_UID", std::to_string(::getuid()));
    set_env(env, "AWF_USER_GID", std::to_string(::getgid()));
    if (::getuid() < 1000 || ::getgid() < 1000) {
      a.insert(std::find(a.begin(), a.end(), std::string("--")), "--exact-ids");
    }
  } else {
    set_default("AWF_USER_UID", std::to_string(config.uid));
    set_default("AWF_USER_GID", std::to_string(config.gid));
  }
  if (!config.workdir.empty()) set_default("AWF_WORKDIR", config.workdir);
  // The agent's resolver is the proxy's DNS listener. (Any server would
  // do, the ruleset redirects port 53, but resolv.conf should not promise
  // others.)
  set_default("AWF_DNS_SERVERS", "127.0.0.1");
  return plan;
}

std::vector<char*> c_strings(std::vector<std::string>& items) {
  std::vector<char*> out;
  for (auto& item : items) out.push_back(item.data());
  out.push_back(nullptr);
  return out;
}

// The agent's first process, PID 1 of the new PID namespace: finish the
// namespaces from inside, send the listeners out, exec the entrypoint when
// awf says go. Never returns. Errors go to the parent as an 'E' message.
[[noreturn]] void run_agent_child(int control, Plan& plan, const sigset_t& original_mask) {
  auto fail = [&](const std::string& message) {
    (void)send_message(control, 'E', message);
    ::_exit(kExitFailure);
  };
  // getppid() is 0 across a PID namespace; EOF on `control` covers a parent
  // that died before this line.
  die_with_parent(0);
  if (plan.user_namespace) {
    // The maps must exist before anything needs an identity inside.
    auto go = receive_message(control);
    if (!go || go->tag != 'M') ::_exit(kExitFailure);
    if (auto status = keep_capabilities_across_exec(); !status) fail(status.message());
  }
  if (auto status = make_mounts_private(); !status) fail(status.message());
  if (auto status = bring_up_loopback(); !status) fail(status.message());
  if (auto status = add_default_routes_via_loopback(); !status) fail(status.message());
  {
    auto listeners = open_agent_listeners(plan.ruleset.ports);
    if (!listeners) fail(listeners.message());
    std::string kinds;
    std::vector<int> fds;
    for (const auto& l : *listeners) {
      kinds += static_cast<char>(l.kind);
      fds.push_back(l.fd.get());
    }
    if (auto status = send_message(control, 'L', kinds, fds); !status) fail(status.message());
    // Our copies close here: the command must never hold the proxy's
    // listeners (it could accept the connections meant for the proxy).
  }
  // The ruleset goes in while awf starts the proxy (libnftables takes a few
  // ms, closing its netlink socket as many again): nothing of the agent runs
  // before it is in place, since exec waits for it and for 'G'. A failure
  // reaches awf as the answer to 'G'.
  if (auto status = apply_ruleset(render_ruleset(plan.ruleset)); !status) fail(status.message());
  auto go = receive_message(control);
  if (!go || go->tag != 'G') ::_exit(kExitFailure);
  ::sigprocmask(SIG_SETMASK, &original_mask, nullptr);
  // Descriptors awf inherited without close-on-exec (a CI runner's, a
  // caller's) must not reach the command: an fd of a host directory is a way
  // around any chroot. Only stdin, stdout and stderr cross.
  if (::close_range(3, ~0U, CLOSE_RANGE_CLOEXEC) != 0) fail("close_range: " + errno_text(errno));
  auto argv = c_strings(plan.agent_argv);
  auto envp = c_strings(plan.agent_env);
  ::execve(plan.entrypoint_path.c_str(), argv.data(), envp.data());
  fail("cannot execute " + plan.entrypoint_path + ": " + errno_text(errno));
  ::_exit(kExitFailure);
}

// ---- the proxy's output: "ready", then a tail kept for crash reports ----

class ProxyOutput {
 public:
  ProxyOutput(UniqueFd fd, const Diagnostics& diag) : fd_(std::move(fd)), diag_(diag) {}
  int fd() const { return fd_.get(); }
  bool open() const { return fd_.valid(); }
  bool ready() const { return ready_; }
  // Reads what is available; true when it read something (false when there
  // is nothing right now, or at EOF, which also closes the pipe).
  bool drain() {
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
  std::string tail() const {
    std::string out;
    for (const auto& l : tail_) out += "\n  " + l;
    return out;
  }

 private:
  void line(const std::string& text) {
    if (text.find(kReadyLine) != std::string::npos) ready_ = true;
    diag_.debug("[awf-proxy] " + text);
    tail_.push_back(text);
    if (tail_.size() > kProxyTailLines) tail_.pop_front();
  }
  UniqueFd fd_;
  const Diagnostics& diag_;
  std::string partial_;
  std::deque<std::string> tail_;
  bool ready_ = false;
};

struct StartedProxy {
  Child child;
  UniqueFd output;
};

Result<StartedProxy> start_proxy(Plan& plan, std::vector<UniqueFd>& listener_fds, const std::string& kinds,
                                 const sigset_t& original_mask) {
  std::vector<intercept::PassedListener> passed;
  for (std::size_t i = 0; i < listener_fds.size(); ++i) {
    passed.push_back({static_cast<intercept::ListenerKind>(kinds[i]), listener_fds[i].get()});
  }
  std::vector<std::string> base_env;
  for (char** e = environ; *e; ++e) base_env.emplace_back(*e);
  auto handoff = intercept::ListenerHandoff::prepare(passed, std::move(base_env));
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
  return StartedProxy{Child(pid), std::move(read_end)};
}

// The agent (entrypoint) is stopped: its PID-1 status becomes the result.
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

// --agent-timeout is given in minutes; tests use milliseconds.
std::string describe_duration(milliseconds d) {
  if (d.count() % 60'000 == 0) {
    const long long minutes = d.count() / 60'000;
    return std::to_string(minutes) + (minutes == 1 ? " minute" : " minutes");
  }
  return std::to_string(d.count()) + " ms";
}

// awf and its proxy write the log directory as awf's user (root for sudo
// awf) after the command started: if anyone else could write there, they
// could swap a file for a link and have root write through it.
Status check_private_directory(const fs::path& dir, const char* flag) {
  struct stat st {};
  if (::lstat(dir.c_str(), &st) != 0) return Error{std::string(flag) + " " + dir.string() + ": " + errno_text(errno)};
  if (!S_ISDIR(st.st_mode)) return Error{std::string(flag) + " " + dir.string() + " is not a directory (a link?)"};
  if (st.st_uid != ::geteuid() || (st.st_mode & (S_IWGRP | S_IWOTH)) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", st.st_mode & 07777);
    return Error{std::string(flag) + " " + dir.string() + " (owner uid " + std::to_string(st.st_uid) + ", mode " +
                 mode + ") can be written by others, who could replace the files awf writes there; use a "
                 "directory only you can write to"};
  }
  return ok_status();
}

enum class Ending { command_exited, timed_out, signalled, proxy_died };

}  // namespace

void print_exit_line(int code) {
  std::fprintf(stderr, "Process exiting with code: %d\n", code);
  std::fflush(stderr);
}

Result<int> run_native(const RuntimeConfig& config) {
  const Diagnostics diag(config.log_level);
  const auto started = Clock::now();
  auto elapsed_ms = [&] {
    return std::to_string(std::chrono::duration_cast<milliseconds>(Clock::now() - started).count());
  };

  // 1. Work and log directories, then everything the children need, prepared
  //    before any process exists.
  const std::string tmp = temp_root(config.tmp_dir);
  auto work = WorkDir::create(tmp, config.work_dir);
  if (!work) return work.error();
  if (config.keep_work_dir) work->keep();
  const fs::path log_dir = config.proxy_logs_dir.empty() ? work->path() / "squid-logs" : fs::path(config.proxy_logs_dir);
  // World-writable is not needed: the proxy runs as awf's own user.
  if (auto status = make_directory(log_dir, 0755); !status) return status.error();
  if (auto status = check_private_directory(log_dir, "--proxy-logs-dir"); !status) return status.error();
  // The command's private /tmp (sticky, world-writable like any /tmp): host
  // sockets under the host's /tmp stay out of its reach.
  fs::path private_tmp;
  if (!config.share_host_tmp) {
    private_tmp = work->path() / "tmp";
    if (auto status = make_directory(private_tmp, 01777); !status) return status.error();
  }
  if (config.on_log_dir) config.on_log_dir(log_dir.string());
  auto plan = make_plan(config, log_dir, private_tmp);
  if (!plan) return plan.error();
  auto signals = SignalWatch::start();
  if (!signals) return signals.error();
  int signal_seen = 0;
  const auto startup_deadline = Clock::now() + config.proxy_ready_timeout;

  // 2. The agent's namespaces. Its first process sets up the network from
  //    inside (lo, routes, nft, listeners): this works the same rootless,
  //    where awf itself could not setns(2) into a namespace owned by another
  //    user namespace.
  int control_pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, control_pair) != 0) {
    return Error{"socketpair: " + errno_text(errno)};
  }
  UniqueFd control(control_pair[0]), child_control(control_pair[1]);
  auto cloned = clone_into_namespaces(namespace_clone_flags(plan->user_namespace));
  if (!cloned) return cloned.error();
  if (*cloned == 0) {
    control.reset();
    run_agent_child(child_control.get(), *plan, signals->previous_mask());
  }
  Child agent(*cloned);
  child_control.reset();
  if (plan->user_namespace) {
    if (auto status = write_id_maps(agent.pid(), ::getuid(), ::getgid()); !status) {
      const std::string hint = user_namespace_hint();
      return Error{status.message() + (hint.empty() ? "" : "; " + hint)};
    }
    if (auto status = send_message(control.get(), 'M', {}); !status) return status.error();
  }
  auto listeners = await_message(control.get(), *signals, startup_deadline, "the agent namespace", signal_seen);
  if (!listeners && signal_seen != 0) {
    // Ctrl-C during set-up still means 130 (143 for SIGTERM), as in awf.
    agent.kill_and_reap();
    const int code = signal_seen == SIGINT ? kExitInterrupted : kExitTerminated;
    diag.warn(std::string("Received ") + (signal_seen == SIGINT ? "SIGINT" : "SIGTERM") + " during start-up");
    print_exit_line(code);
    return code;
  }
  if (!listeners) return listeners.error();
  if (listeners->tag == 'E') return Error{listeners->payload};
  if (listeners->tag != 'L' || listeners->fds.size() != listeners->payload.size() || listeners->fds.empty()) {
    return Error{"the agent namespace's first process exited during set-up (status " +
                 std::to_string(exit_code_from_wait_status(agent.kill_and_reap())) + ")"};
  }
  diag.debug("agent namespaces ready (pid " + std::to_string(agent.pid()) + ", " +
             (plan->user_namespace ? "with" : "without") + " user namespace) after " + elapsed_ms() + " ms");

  // 3. awf-proxy in the host namespace, with the listeners; wait for ready.
  auto proxy = start_proxy(*plan, listeners->fds, listeners->payload, signals->previous_mask());
  if (!proxy) return proxy.error();
  listeners->fds.clear();  // the proxy has them now; the agent side closed its own
  Child proxy_child = std::move(proxy->child);
  ProxyOutput proxy_output(std::move(proxy->output), diag);
  while (!proxy_output.ready()) {
    if (!proxy_output.open()) {
      const int status = proxy_child.stop(config.proxy_stop_grace);
      return Error{"awf-proxy exited before it was ready (" +
                   (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                        : "code " + std::to_string(exit_code_from_wait_status(status))) +
                   ")" + proxy_output.tail()};
    }
    pollfd fds[2] = {{proxy_output.fd(), POLLIN, 0}, {signals->fd(), POLLIN, 0}};
    const int n = ::poll(fds, 2, remaining_ms(startup_deadline));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{"poll while waiting for awf-proxy: " + errno_text(errno)};
    if ((fds[1].revents & POLLIN) && (signal_seen = signals->take()) != 0) break;
    if (fds[0].revents) {
      proxy_output.drain();
      continue;
    }
    if (n == 0) {
      return Error{"awf-proxy was not ready within " + std::to_string(config.proxy_ready_timeout.count()) + " ms" +
                   proxy_output.tail()};
    }
  }
  bool command_started = false;
  PidFile proxy_pid_file;
  if (signal_seen == 0 && !config.proxy_pid_file.empty()) {
    // Best effort: without it the run still works, `awf logs` only sees it
    // as finished until it is.
    auto written = PidFile::write(log_dir / config.proxy_pid_file, proxy_child.pid());
    if (written) {
      proxy_pid_file = std::move(*written);
    } else {
      diag.warn("awf logs will not see this run as live: " + written.message());
    }
  }
  if (signal_seen == 0) {
    diag.debug("awf-proxy ready after " + elapsed_ms() + " ms");
    // 4. Go: the agent execs the entrypoint. EOF on the close-on-exec
    //    channel is the success signal; a message is the exec error.
    if (auto status = send_message(control.get(), 'G', {}); !status) return status.error();
    auto exec_result = await_message(control.get(), *signals, Clock::now() + milliseconds(10'000),
                                     "the entrypoint to start", signal_seen);
    if (!exec_result && signal_seen == 0) return exec_result.error();
    if (exec_result && exec_result->tag == 'E') return Error{exec_result->payload};
    command_started = true;
  }
  control.reset();

  // 5. Supervise until the command ends, the timeout fires, awf is
  //    signalled, or the proxy dies under the command.
  Ending ending = signal_seen ? Ending::signalled : Ending::command_exited;
  int agent_status = 0;
  const auto command_deadline =
      config.agent_timeout ? std::optional(Clock::now() + *config.agent_timeout) : std::nullopt;
  while (signal_seen == 0) {
    if (int status = agent.try_reap(); status >= 0) {
      agent_status = status;
      break;
    }
    std::vector<pollfd> fds = {{agent.pidfd(), POLLIN, 0}, {proxy_child.pidfd(), POLLIN, 0},
                               {signals->fd(), POLLIN, 0}};
    if (proxy_output.open()) fds.push_back({proxy_output.fd(), POLLIN, 0});
    int timeout = command_deadline ? remaining_ms(*command_deadline) : -1;
    if (agent.pidfd() < 0) timeout = timeout < 0 ? 50 : std::min(timeout, 50);  // no pidfd: poll the pid
    const int n = ::poll(fds.data(), fds.size(), timeout);
    if (n < 0 && errno != EINTR) {
      diag.error("poll: " + errno_text(errno));
      break;
    }
    if (n > 0 && fds.size() > 3 && fds[3].revents) proxy_output.drain();
    if (n > 0 && (fds[2].revents & POLLIN)) {
      if ((signal_seen = signals->take()) != 0) {
        ending = Ending::signalled;
        break;
      }
    }
    if (int status = agent.try_reap(); status >= 0) {
      agent_status = status;
      break;
    }
    if (proxy_child.try_reap() >= 0) {
      ending = Ending::proxy_died;
      break;
    }
    if (command_deadline && remaining_ms(*command_deadline) == 0) {
      ending = Ending::timed_out;
      break;
    }
  }

  int code = 0;
  switch (ending) {
    case Ending::command_exited:
      code = exit_code_from_wait_status(agent_status);
      break;
    case Ending::timed_out:
      diag.warn("Agent command timed out after " + describe_duration(*config.agent_timeout) + "; stopping it");
      stop_agent(agent, SIGTERM, config.stop_grace);
      code = kExitTimeout;
      break;
    case Ending::signalled:
      diag.warn(std::string("Received ") + (signal_seen == SIGINT ? "SIGINT" : "SIGTERM") +
                ", stopping the command and cleaning up");
      if (command_started) {
        stop_agent(agent, signal_seen, config.stop_grace);
      } else {
        agent.kill_and_reap();  // still in set-up, its signals blocked: nothing to wait for
      }
      code = signal_seen == SIGINT ? kExitInterrupted : kExitTerminated;
      break;
    case Ending::proxy_died: {
      const int status = proxy_child.try_reap();
      stop_agent(agent, SIGTERM, config.stop_grace);
      while (proxy_output.open() && proxy_output.drain()) {
      }
      diag.error("awf-proxy exited while the command was running (" +
                 (WIFSIGNALED(status) ? "signal " + std::to_string(WTERMSIG(status))
                                      : "code " + std::to_string(exit_code_from_wait_status(status))) +
                 "); the command was stopped because it had no network left" + proxy_output.tail());
      code = kExitFailure;
      break;
    }
  }

  // 6. Clean up: the proxy flushes its logs on SIGTERM; the namespaces went
  //    with the agent's PID 1. Logs are kept, the work directory is not.
  if (proxy_child.running()) {
    const int status = proxy_child.stop(config.proxy_stop_grace);
    if (WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) {
      diag.warn("awf-proxy did not stop within " + std::to_string(config.proxy_stop_grace.count()) +
                " ms and was killed; its logs may be incomplete");
    }
  }
  while (proxy_output.open() && proxy_output.drain()) {
  }
  // The proxy has stopped writing: its logs are complete (a follower that
  // sees the pid file go has read everything), and the file must not be
  // preserved with them.
  proxy_pid_file.remove();
  if (config.on_finished) config.on_finished(code, log_dir.string());
  if (plan->logs_dir_given) {
    if (auto status = make_world_readable(log_dir); !status) diag.warn("proxy logs: " + status.message());
  } else if (auto kept = preserve_logs(log_dir, tmp, work->timestamp()); !kept) {
    // The logs are the record of what the command did: losing them is a
    // failure of the run, never a warning. They stay in the work directory.
    work->keep();
    diag.error("proxy logs not preserved: " + kept.message() + "; the logs remain at " + log_dir.string());
    if (code == 0) code = kExitFailure;
  } else if (!kept->path.empty()) {
    if (!kept->note.empty()) diag.warn("proxy logs: " + kept->note);
    diag.info("Squid logs preserved at: " + kept->path.string());
    if (config.on_logs_preserved) config.on_logs_preserved(kept->path.string());
  }
  if (config.keep_work_dir) diag.info("Work directory kept at: " + work->path().string());
  print_exit_line(code);
  return code;
}

}  // namespace awf::runtime
