// run_attach(): `awf attach --pid PID`, awf's network set-up for a process
// that some other sandbox (bubblewrap, firejail, podman, `ip netns`) has
// already put in a network namespace of its own. The same listeners and
// ruleset as an awf run, put into that namespace from a thread that enters
// it; awf-proxy in awf's namespace; taken out again when the process exits.
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <iterator>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "awf/errno_text.h"
#include "awf/runtime/cleanup.h"
#include "awf/runtime/netns_setup.h"
#include "awf/runtime/nft_ruleset.h"
#include "awf/runtime/runtime.h"
#include "deadline.h"
#include "diagnostics.h"
#include "plan.h"
#include "proxy_process.h"
#include "run_logs.h"
#include "signal_watch.h"

namespace awf::runtime {
namespace {

// CAP_NET_ADMIN's bit in /proc/PID/status's capability masks.
constexpr unsigned kCapNetAdmin = 12;

// A file's identity: a namespace as /proc/PID/ns/* shows it, an executable.
struct InodeId {
  dev_t dev = 0;
  ino_t ino = 0;
  bool operator==(const InodeId&) const = default;
};

Result<InodeId> inode_of(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) return Error{path + ": " + errno_text(errno)};
  return InodeId{st.st_dev, st.st_ino};
}

// The process to attach to, pinned: its pidfd (readable once it exits, and
// never another process that reuses the number) and its network namespace,
// held open so that the namespace outlives the process until the rules are
// taken out again.
struct Target {
  pid_t pid = 0;
  UniqueFd pidfd;
  UniqueFd netns;
  std::string netns_name;  // "net:[4026532...]", as /proc shows it
  InodeId id;
};

bool exited(int pidfd) {
  pollfd p{pidfd, POLLIN, 0};
  return ::poll(&p, 1, 0) == 1;
}

Result<Target> open_target(pid_t pid) {
  const std::string who = "PID " + std::to_string(pid);
  if (pid <= 0) return Error{"awf attach: --pid " + std::to_string(pid) + " is not a process ID"};
  Target target;
  target.pid = pid;
  target.pidfd.reset(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!target.pidfd) {
    if (errno == ESRCH) return Error{"awf attach: there is no process with " + who};
    return Error{"awf attach: pidfd_open(" + who + "): " + errno_text(errno)};
  }
  const std::string path = "/proc/" + std::to_string(pid) + "/ns/net";
  target.netns = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!target.netns) return Error{"awf attach: cannot open " + path + ": " + errno_text(errno)};
  // The pidfd was taken first: if the process is still there now, the
  // namespace opened above is its own and not that of a process that got
  // the same number in between.
  if (exited(target.pidfd.get())) return Error{"awf attach: " + who + " exited before awf could attach"};
  char link[64] = {};
  if (::readlink(path.c_str(), link, sizeof link - 1) > 0) target.netns_name = link;

  struct stat st {};
  if (::fstat(target.netns.get(), &st) != 0) return Error{"awf attach: fstat " + path + ": " + errno_text(errno)};
  const InodeId id{st.st_dev, st.st_ino};
  target.id = id;
  // The host's namespace is awf's own and init's (the same, unless awf runs
  // inside a namespace of its own): rules there would firewall the machine.
  for (const char* host : {"/proc/self/ns/net", "/proc/1/ns/net"}) {
    auto other = inode_of(host);
    if (other && *other == id) {
      return Error{"awf attach: " + who + " runs in the host's network namespace (" + target.netns_name +
                   ", the one awf itself and PID 1 use); attaching there would put the firewall on the whole "
                   "machine. Start the program in a network namespace of its own (bwrap --unshare-net, "
                   "firejail --net=none, podman --network none, ip netns exec) and attach to that. Nothing "
                   "was changed."};
    }
  }
  return target;
}

// Runs `work` on a thread of its own that has entered the namespace
// `netns_fd`: setns(2) with CLONE_NEWNET changes only the calling thread,
// and that thread ends with the work, so awf's own threads never leave the
// host's namespace. Sockets keep the namespace they were made in.
Status in_namespace(int netns_fd, const std::function<Status()>& work) {
  Status result = Error{"awf attach: the namespace thread did not run"};
  try {
    std::thread thread([&] {
      if (::setns(netns_fd, CLONE_NEWNET) != 0) {
        result = Error{"awf attach: cannot enter the network namespace: setns: " + errno_text(errno)};
        return;
      }
      result = work();
    });
    thread.join();
  } catch (const std::system_error& e) {
    return Error{std::string("awf attach: starting the namespace thread: ") + e.what()};
  }
  return result;
}

// What attach put into the namespace, so that detach takes out exactly that.
struct Installed {
  std::vector<UniqueFd> listener_fds;
  std::string kinds;  // one ListenerKind byte per descriptor
  AddedRoutes routes;
  bool replaced_leftover = false;  // a ruleset of an attach that was killed
  Ipv6 ipv6 = Ipv6::served;
};

// Inside the namespace: lo first, because ::1 exists only while lo is up
// (the kernel adds it when the link comes up; 127.0.0.1 is there either
// way), and the listeners on ::1 are opened only where ::1 exists. Then the
// listeners, so that a namespace served already (another attach: its
// listeners hold the ports) is refused before the rules change; then the
// routes and the ruleset, which serves IPv6 only where the listeners on ::1
// took it (IPv6 can be disabled in the namespace) and otherwise refuses it.
Status install(const Plan& plan, Installed& out) {
  if (auto status = bring_up_loopback(); !status) return status;
  out.ipv6 = has_ipv6_loopback() ? Ipv6::served : Ipv6::refused;
  auto listeners = open_agent_listeners(plan.ruleset.ports);
  if (!listeners) {
    return Error{"awf attach: cannot open the proxy's listeners there: " + listeners.message() +
                 ". Is another awf attach serving this namespace, or does a program in it use the port? "
                 "Nothing was changed besides setting lo up."};
  }
  auto present = ruleset_present();
  if (!present) return present.error();
  out.replaced_leftover = *present;
  auto routes = add_missing_default_routes_via_loopback();
  if (!routes) return routes.error();
  if (auto status = apply_ruleset(render_ruleset(plan.ruleset, out.ipv6)); !status) {
    (void)remove_default_routes_via_loopback(*routes);
    return status;
  }
  out.routes = *routes;
  for (auto& l : *listeners) {
    out.kinds += static_cast<char>(l.kind);
    out.listener_fds.push_back(std::move(l.fd));
  }
  return ok_status();
}

Status uninstall(const Installed& installed) {
  Status rules = remove_ruleset();
  Status routes = remove_default_routes_via_loopback(installed.routes);
  if (!rules) return rules;
  return routes;
}

// A process's entry in /proc, as far as the capability check needs it.
struct ProcessInfo {
  std::string name;  // the Name: line (comm)
  pid_t parent = 0;
  unsigned long long effective_caps = 0;
};

std::optional<ProcessInfo> read_process(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  if (!status) return std::nullopt;
  ProcessInfo info;
  std::string line;
  while (std::getline(status, line)) {
    if (line.rfind("Name:", 0) == 0) {
      const auto start = line.find_first_not_of(" \t", 5);
      info.name = start == std::string::npos ? "" : line.substr(start);
    } else if (line.rfind("PPid:", 0) == 0) {
      info.parent = static_cast<pid_t>(std::strtol(line.c_str() + 5, nullptr, 10));
    } else if (line.rfind("CapEff:", 0) == 0) {
      info.effective_caps = std::strtoull(line.c_str() + 7, nullptr, 16);
    }
  }
  return info;
}

std::string read_whole(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// True for a process a sandbox tool forked into the namespace without
// starting another program: its parent is outside the namespace and runs
// the same executable with the same command line (firejail's process in the
// sandbox, which keeps its capabilities to watch over the program). That is
// the tool's own code; the program it starts cannot take it over (ptrace
// needs every capability the target has). A program the tool started has
// exec'd: another executable or command line than its parent's.
bool is_sandbox_tool_fork(pid_t pid, const ProcessInfo& info, const InodeId& netns) {
  if (info.parent <= 0) return false;
  const std::string self = "/proc/" + std::to_string(pid);
  const std::string parent = "/proc/" + std::to_string(info.parent);
  auto parent_netns = inode_of(parent + "/ns/net");
  if (!parent_netns || *parent_netns == netns) return false;
  auto exe = inode_of(self + "/exe");
  auto parent_exe = inode_of(parent + "/exe");
  if (!exe || !parent_exe || !(*exe == *parent_exe)) return false;
  const std::string cmdline = read_whole(self + "/cmdline");
  return !cmdline.empty() && cmdline == read_whole(parent + "/cmdline");
}

// "PID 12 (sh), PID 14 (sleep)": every process in the namespace `netns`
// whose effective capabilities include CAP_NET_ADMIN, with which it could
// take awf's rules out again, but the sandbox tool's own forks (above).
// Every process, not only --pid: the sandbox's init may have none while
// the program it runs has them all (bubblewrap started by root keeps the
// program's unless told --cap-drop), and the other way round.
std::string net_admin_holders(const InodeId& netns) {
  std::string holders;
  std::error_code ec;
  // increment(ec) rather than a range-for, whose ++ throws.
  for (std::filesystem::directory_iterator it("/proc", ec), end; !ec && it != end; it.increment(ec)) {
    const std::string name = it->path().filename().string();
    if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
    const auto pid = static_cast<pid_t>(std::stol(name));
    // Gone meanwhile, or a kernel thread: no namespace to compare.
    auto its_netns = inode_of("/proc/" + name + "/ns/net");
    if (!its_netns || !(*its_netns == netns)) continue;
    auto info = read_process(pid);
    if (!info || ((info->effective_caps >> kCapNetAdmin) & 1U) == 0) continue;
    if (is_sandbox_tool_fork(pid, *info, netns)) continue;
    holders += (holders.empty() ? "" : ", ") + std::string("PID ") + name + " (" + info->name + ")";
  }
  return holders;
}

// Takes awf's rules and routes out of the namespace, once:
// at now(), or when it goes away on an early return. keep_rules() leaves
// them in place.
class Detach {
 public:
  Detach(const Target& target, const Installed& installed, const Diagnostics& diag)
      : target_(target), installed_(installed), diag_(diag) {}
  Detach(const Detach&) = delete;
  Detach& operator=(const Detach&) = delete;
  ~Detach() { now(); }
  void keep_rules() { done_ = true; }
  void now() {
    if (std::exchange(done_, true)) return;
    if (auto status = in_namespace(target_.netns.get(), [this] { return uninstall(installed_); }); !status) {
      diag_.error("could not take awf's rules out of the namespace: " + status.message());
    }
  }

 private:
  const Target& target_;
  const Installed& installed_;
  const Diagnostics& diag_;
  bool done_ = false;
};

enum class Ending { target_exited, signalled, proxy_died };

// Waits until the process exits, awf attach is signalled, or the proxy dies,
// reading the proxy's output meanwhile.
Ending supervise(const Target& target, Proxy& proxy, const SignalWatch& signals, int& signal_seen,
                 const Diagnostics& diag) {
  if (signal_seen != 0) return Ending::signalled;
  for (;;) {
    std::vector<pollfd> fds = {{target.pidfd.get(), POLLIN, 0}, {proxy.child.pidfd(), POLLIN, 0},
                               {signals.fd(), POLLIN, 0}};
    if (proxy.output.open()) fds.push_back({proxy.output.fd(), POLLIN, 0});
    // The proxy is awf's child and has a pidfd; without one (old kernels)
    // its death is noticed by polling.
    const int n = ::poll(fds.data(), fds.size(), proxy.child.pidfd() < 0 ? 200 : -1);
    if (n < 0 && errno != EINTR) {
      diag.error("poll: " + errno_text(errno));
      return Ending::signalled;
    }
    if (n > 0 && fds.size() > 3 && fds[3].revents) proxy.output.drain();
    if (n > 0 && (fds[2].revents & POLLIN) && (signal_seen = signals.take()) != 0) return Ending::signalled;
    if (exited(target.pidfd.get())) return Ending::target_exited;
    if (proxy.child.try_reap() >= 0) return Ending::proxy_died;
  }
}

}  // namespace

Result<int> run_attach(const RuntimeConfig& given, pid_t pid) {
  RuntimeConfig config = given;
  config.share_host_tmp = true;  // there is no command of ours: no private /tmp to make
  const Diagnostics diag(config.log_level);
  const auto started = Clock::now();
  if (::geteuid() != 0) {
    return Error{"awf attach: needs root (CAP_SYS_ADMIN to enter the namespace and CAP_NET_ADMIN to put rules "
                 "there); run it with sudo"};
  }

  // 1. The process and its namespace, pinned; never the host's.
  auto target = open_target(pid);
  if (!target) return target.error();
  const std::string who = "PID " + std::to_string(pid) + " (" + target->netns_name + ")";

  // 2. Log directory and awf-proxy's command line, before anything changes.
  const std::string tmp = temp_root(config.tmp_dir);
  auto work = WorkDir::create(tmp, config.work_dir);
  if (!work) return work.error();
  if (config.keep_work_dir) work->keep();
  auto dirs = make_run_directories(config, *work);
  if (!dirs) return dirs.error();
  Plan plan;
  if (auto status = plan_proxy(config, dirs->log_dir, plan); !status) return status.error();
  if (config.on_log_dir) config.on_log_dir(dirs->log_dir.string());
  auto signals = SignalWatch::start();
  if (!signals) return signals.error();

  // 3. Listeners, lo, routes and the ruleset inside the namespace.
  Installed installed;
  if (auto status = in_namespace(target->netns.get(), [&] { return install(plan, installed); }); !status) {
    return status.error();
  }
  if (installed.replaced_leftover) {
    diag.warn("replaced the awf rules an earlier attach left in " + who + " (it was stopped without detaching)");
  }
  // From here on every way out takes the rules out again, except a dead
  // proxy (below).
  Detach detach(*target, installed, diag);
  diag.debug("listeners and ruleset in " + who + " after " + elapsed_ms(started) + " ms");
  // Best effort: a warning, since awf cannot take the capability away.
  if (const std::string holders = net_admin_holders(target->id); !holders.empty()) {
    diag.warn("CAP_NET_ADMIN is held in the network namespace of " + who + " by " + holders +
              ": with it a process can take awf's rules out. Drop the capability from the sandboxed program "
              "(for example bwrap --cap-drop ALL, firejail --caps.drop=all, setpriv --bounding-set -net_admin).");
  }
  if (installed.ipv6 == Ipv6::refused) {
    diag.warn("IPv6 is not served in " + who + ": it is disabled there (no ::1 to listen on), so awf "
              "refuses every IPv6 packet from it instead of redirecting it.");
  }

  // 4. awf-proxy in awf's namespace with the listeners; wait for ready.
  int signal_seen = 0;
  auto proxy = start_proxy(plan, installed.listener_fds, installed.kinds, signals->previous_mask(), diag);
  if (!proxy) return proxy.error();
  if (auto status = wait_for_proxy_ready(*proxy, *signals, Clock::now() + config.proxy_ready_timeout, config,
                                         signal_seen);
      !status) {
    return status.error();
  }
  PidFile proxy_pid_file = announce_live_proxy(config, plan.log_dir, proxy->child.pid(), diag);
  const std::string proxy_url = "http://127.0.0.1:" + std::to_string(config.ports.forward);
  if (signal_seen == 0) {
    // stdout first: a script that waits for the ready line on stderr finds
    // them there already.
    std::cout << "HTTP_PROXY=" << proxy_url << "\nHTTPS_PROXY=" << proxy_url << std::endl;
    diag.info("Attached to " + who + " after " + elapsed_ms(started) +
              " ms: connections to ports 80 and 443 and DNS from that namespace go through awf-proxy, "
              "everything else is refused. Programs that use proxy variables need the two printed on stdout; "
              "transparent capture works without them.");
  }

  // 5. Until the process exits (or a signal, or the proxy dies).
  const Ending ending = supervise(*target, *proxy, *signals, signal_seen, diag);
  int code = 0;
  switch (ending) {
    case Ending::target_exited:
      diag.info("PID " + std::to_string(pid) + " exited; detaching");
      break;
    case Ending::signalled:
      diag.warn(std::string("Received ") + signal_name(signal_seen) + "; detaching from " + who);
      code = exit_code_for_signal(signal_seen);
      break;
    case Ending::proxy_died: {
      // The rules stay: without them a namespace that has another way out
      // would be open. Nothing in it reaches anything until they go.
      detach.keep_rules();
      const int status = proxy->child.try_reap();
      proxy->output.drain_available();
      diag.error("awf-proxy exited (" + describe_wait_status(status) + "); awf's rules stay in " + who +
                 " so that nothing leaves it unchecked (remove them with: nsenter --net=/proc/" +
                 std::to_string(pid) + "/ns/net nft delete table inet awf)" + proxy->output.tail());
      code = kExitFailure;
      break;
    }
  }

  // 6. Rules out first (no new connection is redirected to a proxy that is
  //    going), then the proxy, which flushes its logs; report; keep the logs.
  detach.now();
  stop_proxy(*proxy, config.proxy_stop_grace, diag);
  proxy_pid_file.remove();
  if (config.on_finished) config.on_finished(code, plan.log_dir.string());
  if (!keep_proxy_logs(config, plan, *work, tmp, diag) && code == 0) code = kExitFailure;
  if (config.keep_work_dir) diag.info("Work directory kept at: " + work->path().string());
  reap_proxy(*proxy, config.proxy_stop_grace, diag);
  print_exit_line(code);
  return code;
}

}  // namespace awf::runtime
