// The sandbox tools' command lines, and how each one's process inside the
// new network namespace is found. Everything a sandbox needs (its hosts file,
// resolv.conf, script, podman's root directory and storage) is made in the
// sandbox's own temporary directory.
#include "awf/testing/sandboxes.h"

#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <ostream>
#include <sstream>
#include <thread>

namespace awf::testing {

namespace {

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;

// The sandbox's own /etc/hosts and /etc/resolv.conf: names resolve only
// through a DNS server on the sandbox's loopback (awf-proxy's DNS listener).
constexpr const char* kHosts = "127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n";
constexpr const char* kResolvConf = "nameserver 127.0.0.1\n";

bool in_path(const std::string& program) {
  const char* path = std::getenv("PATH");
  std::istringstream dirs(path ? path : "/usr/sbin:/usr/bin:/sbin:/bin");
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    if (!dir.empty() && ::access((dir + "/" + program).c_str(), X_OK) == 0) return true;
  }
  return false;
}

std::vector<int> all_pids() {
  std::vector<int> pids;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    const std::string name = e.path().filename().string();
    if (!name.empty() && name.find_first_not_of("0123456789") == std::string::npos) pids.push_back(std::stoi(name));
  }
  return pids;
}

std::uint64_t inode_of(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? static_cast<std::uint64_t>(st.st_ino) : 0;
}

// Processes with a thread in the namespace `inode` (awf-proxy enters one from
// a short-lived thread, so threads are looked at one by one).
std::vector<int> pids_in_netns(std::uint64_t inode) {
  std::vector<int> pids;
  for (int pid : all_pids()) {
    std::error_code ec;
    for (const auto& task : fs::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
      if (inode_of(task.path().string() + "/ns/net") == inode) {
        pids.push_back(pid);
        break;
      }
    }
  }
  return pids;
}

// The parent of a process, from /proc/PID/stat (after the command's closing
// parenthesis: state, then ppid); 0 when it is gone.
int parent_of(int pid) {
  const std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
  const auto close = stat.rfind(')');
  if (close == std::string::npos) return 0;
  std::istringstream fields(stat.substr(close + 1));
  std::string state;
  int ppid = 0;
  fields >> state >> ppid;
  return ppid;
}

// A child of `parent` in another network namespace than `ours` (firejail's
// launcher starts the sandbox as its child); -1 when there is none yet.
int child_in_other_netns(int parent, std::uint64_t ours) {
  for (int pid : all_pids()) {
    if (parent_of(pid) != parent) continue;
    const std::uint64_t inode = netns_inode(pid);
    if (inode != 0 && inode != ours) return pid;
  }
  return -1;
}

// The number after `"child-pid":` in bubblewrap's --info-fd output; -1
// until it is there.
int bwrap_child_pid(const std::string& info) {
  const auto key = info.find("\"child-pid\":");
  if (key == std::string::npos) return -1;
  std::istringstream rest(info.substr(key + 12));
  int pid = -1;
  return (rest >> pid) ? pid : -1;
}

int pid_in_file(const std::string& path) {
  std::istringstream in(read_file(path));
  int pid = -1;
  return (in >> pid) ? pid : -1;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) lines.push_back(line);
  }
  return lines;
}

std::string joined(const std::vector<std::string>& argv) {
  std::string text;
  for (const auto& a : argv) {
    if (!text.empty()) text += ' ';
    text += a.find_first_of(" '\"$;&|") == std::string::npos ? a : "'" + a + "'";
  }
  return text;
}

// Unique names for containers and named namespaces. The awf-pxy- prefix is
// one the proxy suites' namespaces have: other suites' checks that nothing
// was left behind leave such names out while they come and go.
std::string next_name() {
  static std::atomic<int> counter{0};
  return "awf-pxy-sbx-" + std::to_string(::getpid()) + "-" + std::to_string(counter++);
}

}  // namespace

std::string sandbox_name(SandboxKind kind) {
  switch (kind) {
    case SandboxKind::bubblewrap: return "bubblewrap";
    case SandboxKind::firejail: return "firejail";
    case SandboxKind::podman: return "podman";
    case SandboxKind::ip_netns: return "ip_netns";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, SandboxKind kind) { return out << sandbox_name(kind); }

std::string sandbox_missing(SandboxKind kind) {
  switch (kind) {
    case SandboxKind::bubblewrap:
      return in_path("bwrap") ? "" : "bwrap (bubblewrap) is not installed";
    case SandboxKind::firejail:
      return in_path("firejail") ? "" : "firejail is not installed";
    case SandboxKind::podman:
      if (!in_path("podman")) return "podman is not installed";
      return in_path("runc") ? "" : "runc (the OCI runtime the podman sandbox uses) is not installed";
    case SandboxKind::ip_netns:
      return in_path("ip") ? "" : "ip (iproute2) is not installed";
  }
  return "an unknown sandbox kind";
}

std::uint64_t netns_inode(int pid) { return inode_of("/proc/" + std::to_string(pid) + "/ns/net"); }

std::vector<std::string> netns_users(std::uint64_t inode) {
  std::vector<std::string> users;
  for (int pid : pids_in_netns(inode)) {
    std::string comm = read_file("/proc/" + std::to_string(pid) + "/comm");
    if (!comm.empty() && comm.back() == '\n') comm.pop_back();
    users.push_back("pid " + std::to_string(pid) + " (" + comm + ")");
  }
  // mountinfo: ID PARENT MAJ:MIN ROOT MOUNTPOINT ...; a bound namespace's
  // ROOT is net:[INODE].
  const std::string root = "net:[" + std::to_string(inode) + "]";
  for (const auto& line : lines_of(read_file("/proc/self/mountinfo"))) {
    std::istringstream fields(line);
    std::string id, parent, dev, mount_root, point;
    fields >> id >> parent >> dev >> mount_root >> point;
    if (mount_root == root) users.push_back("mount " + point);
  }
  return users;
}

std::unique_ptr<Sandbox> Sandbox::start(SandboxKind kind, const std::string& script,
                                        std::chrono::milliseconds timeout,
                                        const std::vector<std::string>& tool_flags) {
  std::unique_ptr<Sandbox> sandbox(new Sandbox(kind));
  sandbox->launch(script, timeout, tool_flags);
  return sandbox;
}

std::vector<std::string> Sandbox::podman_command(std::vector<std::string> args) const {
  // Storage, state and events in the sandbox's directory (vfs: no overlay
  // mount on the host), runc (crun refuses machines whose cgroup v2 tree
  // has controllers beside cgroup v1 ones), cgroupfs (no systemd needed).
  const std::string podman = dir_.file("podman");
  std::vector<std::string> argv = {"podman",
                                   "--root", podman + "/storage",
                                   "--runroot", podman + "/run",
                                   "--tmpdir", podman + "/tmp",
                                   "--storage-driver", "vfs",
                                   "--runtime", "runc",
                                   "--cgroup-manager", "cgroupfs",
                                   "--events-backend", "file"};
  argv.insert(argv.end(), args.begin(), args.end());
  return argv;
}

void Sandbox::launch(const std::string& script, std::chrono::milliseconds timeout,
                     const std::vector<std::string>& tool_flags) {
  share_ = dir_.file("share");
  fs::create_directory(share_);
  const std::string hosts = dir_.file("hosts"), resolv = dir_.file("resolv.conf");
  write_file(hosts, kHosts);
  write_file(resolv, kResolvConf);
  // The script waits (at most a minute) for release(), then runs the test's.
  const std::string script_path = share_ + "/script.sh";
  write_file(script_path, "i=0; while [ ! -e " + share_ + "/go ]; do i=$((i+1)); [ $i -le 6000 ] || exit 125; "
                          "sleep 0.01; done\n" + script + "\n");
  std::vector<std::string> spawn_argv;
  switch (kind_) {
    case SandboxKind::bubblewrap:
      // The machine's tree, with the sandbox's own /proc, hosts and
      // resolv.conf; a new network and PID namespace. --info-fd writes the
      // PID (ours) of the sandbox's init, which lives in the new namespace.
      command_ = {"bwrap", "--dev-bind", "/", "/", "--proc", "/proc", "--ro-bind", hosts, "/etc/hosts",
                  "--ro-bind", resolv, "/etc/resolv.conf", "--unshare-net", "--unshare-pid", "--die-with-parent",
                  "--info-fd", "3"};
      command_.insert(command_.end(), tool_flags.begin(), tool_flags.end());
      command_.insert(command_.end(), {"--", "sh", script_path});
      spawn_argv = {"sh", "-c", "exec 3>\"$0\" && exec \"$@\"", dir_.file("bwrap-info.json")};
      break;
    case SandboxKind::firejail:
      // --net=none: loopback only; --dns and --hosts-file write the
      // sandbox's own resolv.conf and hosts.
      command_ = {"firejail", "--quiet", "--noprofile", "--net=none", "--dns=127.0.0.1", "--hosts-file=" + hosts};
      command_.insert(command_.end(), tool_flags.begin(), tool_flags.end());
      command_.insert(command_.end(), {"--", "sh", script_path});
      break;
    case SandboxKind::podman: {
      // A root directory of symbolic links into the host's /usr, which is
      // bound read-only: no image, no registry.
      const std::string rootfs = dir_.file("rootfs");
      fs::create_directories(rootfs + "/usr");
      fs::create_directories(rootfs + "/etc");
      std::vector<std::string> binds = {"-v", "/usr:/usr:ro"};
      for (const char* top : {"bin", "sbin", "lib", "lib32", "lib64", "libx32"}) {
        const fs::path host_path = fs::path("/") / top;
        std::error_code ec;
        if (fs::is_symlink(host_path, ec)) {
          fs::create_symlink(fs::read_symlink(host_path), fs::path(rootfs) / top, ec);
        } else if (fs::is_directory(host_path, ec)) {  // a system without merged /usr
          binds.insert(binds.end(), {"-v", host_path.string() + ":" + host_path.string() + ":ro"});
        }
      }
      name_ = next_name();
      // --ipc none: no /dev/shm, whose tmpfs podman would mount on the host;
      // --ulimit: podman's default raises both limits to 1048576, which
      // needs CAP_SYS_RESOURCE.
      std::vector<std::string> run_args = {"run", "--rm", "--name", name_, "--network", "none", "--ipc", "none",
                                           "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024"};
      run_args.insert(run_args.end(), binds.begin(), binds.end());
      run_args.insert(run_args.end(), tool_flags.begin(), tool_flags.end());
      run_args.insert(run_args.end(), {"-v", hosts + ":/etc/hosts:ro", "-v", resolv + ":/etc/resolv.conf:ro",
                                       "-v", share_ + ":" + share_, "--pidfile", dir_.file("podman.pid"),
                                       "--rootfs", rootfs, "sh", script_path});
      command_ = podman_command(run_args);
      break;
    }
    case SandboxKind::ip_netns: {
      // A named namespace with loopback up; `ip netns exec` binds the files
      // of /etc/netns/NAME over those of /etc.
      name_ = next_name();
      RunResult added = run({"ip", "netns", "add", name_});
      if (added.exit_code != 0) {
        failure_ = "ip netns add " + name_ + " failed: " + added.err;
        return;
      }
      namespace_added_ = true;
      RunResult up = run({"ip", "-n", name_, "link", "set", "lo", "up"});
      if (up.exit_code != 0) {
        failure_ = "ip -n " + name_ + " link set lo up failed: " + up.err;
        return;
      }
      std::error_code ec;
      etc_netns_created_ = fs::create_directory("/etc/netns", ec);
      fs::create_directories("/etc/netns/" + name_);
      write_file("/etc/netns/" + name_ + "/hosts", kHosts);
      write_file("/etc/netns/" + name_ + "/resolv.conf", kResolvConf);
      command_ = {"ip", "netns", "exec", name_};
      command_.insert(command_.end(), tool_flags.begin(), tool_flags.end());
      command_.insert(command_.end(), {"sh", script_path});
      netns_ = "/run/netns/" + name_;
      break;
    }
  }
  spawn_argv.insert(spawn_argv.end(), command_.begin(), command_.end());
  launcher_ = Process::spawn(spawn_argv);

  const std::uint64_t ours = netns_inode(::getpid());
  const auto deadline = Clock::now() + timeout;
  for (;;) {
    int candidate = -1;
    switch (kind_) {
      case SandboxKind::bubblewrap: candidate = bwrap_child_pid(read_file(dir_.file("bwrap-info.json"))); break;
      case SandboxKind::firejail: candidate = child_in_other_netns(launcher_->pid(), ours); break;
      case SandboxKind::podman: candidate = pid_in_file(dir_.file("podman.pid")); break;
      case SandboxKind::ip_netns: candidate = launcher_->pid(); break;
    }
    const std::uint64_t inode = candidate > 0 ? netns_inode(candidate) : 0;
    if (inode != 0 && inode != ours) {
      pid_ = candidate;
      inode_ = inode;
      if (netns_.empty()) netns_ = "/proc/" + std::to_string(pid_) + "/ns/net";
      return;
    }
    if (!launcher_->running()) {
      const int code = launcher_->wait(std::chrono::seconds(0)).value_or(-1);
      failure_ = sandbox_name(kind_) + " exited with " + std::to_string(code) + " before its sandbox was there: " +
                 launcher_->stderr_text();
      return;
    }
    if (Clock::now() > deadline) {
      failure_ = "no process of the " + sandbox_name(kind_) + " sandbox in a network namespace of its own after " +
                 std::to_string(timeout.count()) + " ms: " + launcher_->stderr_text();
      return;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
}

Sandbox::~Sandbox() {
  // The sandbox's init (bubblewrap's, firejail's and the container's each
  // have a PID namespace of their own): killing it ends everything in the
  // sandbox. Checked first, so that a reused PID is never killed.
  if (pid_ > 0 && netns_inode(pid_) == inode_) {
    ::kill(pid_, SIGKILL);
  } else if (launcher_) {
    launcher_->signal(SIGKILL);  // it never got as far as a sandbox
  }
  // A named namespace stays while mounted, so its inode still names it: its
  // processes are killed one by one.
  if (kind_ == SandboxKind::ip_netns && namespace_added_ && inode_ != 0) {
    for (int pid : pids_in_netns(inode_)) ::kill(pid, SIGKILL);
  }
  if (launcher_) launcher_->wait(std::chrono::seconds(10));
  if (kind_ == SandboxKind::podman && !name_.empty()) {
    run(podman_command({"rm", "--force", "--time", "0", "--ignore", name_}), std::chrono::seconds(30));
  }
  launcher_.reset();
  remove_namespace();
}

std::string Sandbox::command_text() const { return joined(command_); }

void Sandbox::release() const { write_file(share_ + "/go", ""); }

std::optional<int> Sandbox::wait(std::chrono::milliseconds timeout) {
  if (!launcher_) return 127;
  return launcher_->wait(timeout);
}

std::string Sandbox::output() const { return launcher_ ? launcher_->stdout_text() : ""; }

std::string Sandbox::errors() const { return launcher_ ? launcher_->stderr_text() : ""; }

std::vector<std::string> Sandbox::leftovers() const {
  std::vector<std::string> left;
  switch (kind_) {
    case SandboxKind::bubblewrap: break;  // nothing of bubblewrap's outlives its processes
    case SandboxKind::firejail: {
      // firejail --list: PID:USER:NAME:COMMAND; ours is the one running our script.
      for (const auto& line : lines_of(run({"firejail", "--list"}).out)) {
        if (line.find(share_) != std::string::npos) left.push_back("firejail sandbox " + line);
      }
      break;
    }
    case SandboxKind::podman: {
      RunResult ps = run(podman_command({"ps", "--all", "--format", "{{.Names}} {{.Status}}"}));
      if (ps.exit_code != 0) left.push_back("podman ps failed: " + ps.err);
      for (const auto& line : lines_of(ps.out)) left.push_back("container " + line);
      break;
    }
    case SandboxKind::ip_netns:
      if (namespace_added_) left.push_back("named namespace " + netns_);
      break;
  }
  return left;
}

void Sandbox::remove_namespace() {
  if (kind_ != SandboxKind::ip_netns || name_.empty()) return;
  if (namespace_added_) {
    run({"ip", "netns", "delete", name_});
    namespace_added_ = false;
  }
  std::error_code ec;
  fs::remove_all("/etc/netns/" + name_, ec);
  if (etc_netns_created_) fs::remove("/etc/netns", ec);  // only when empty: another sandbox may use it
  etc_netns_created_ = false;
}

}  // namespace awf::testing
