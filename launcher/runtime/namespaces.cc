// The agent's namespaces: clone(2) with CLONE_NEW*, the user namespace's ID
// maps (parent half) and capabilities kept across exec (child half), private
// mount propagation, and what to tell the user when user namespaces are off.
#include "awf/runtime/namespaces.h"

#include <fcntl.h>
#include <linux/capability.h>
#include <sched.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <optional>
#include <string>

#include "awf/unique_fd.h"
#include "awf/errno_text.h"

namespace awf::runtime {
namespace {

std::string flags_to_string(int flags) {
  static constexpr struct {
    int flag;
    const char* name;
  } kNames[] = {{CLONE_NEWUSER, "CLONE_NEWUSER"}, {CLONE_NEWNET, "CLONE_NEWNET"}, {CLONE_NEWNS, "CLONE_NEWNS"},
                {CLONE_NEWPID, "CLONE_NEWPID"},   {CLONE_NEWUTS, "CLONE_NEWUTS"}, {CLONE_NEWIPC, "CLONE_NEWIPC"}};
  std::string out;
  for (const auto& entry : kNames) {
    if (!(flags & entry.flag)) continue;
    if (!out.empty()) out += '|';
    out += entry.name;
  }
  return out;
}

std::optional<std::string> read_sysctl(const char* path) {
  std::ifstream in(path);
  std::string value;
  if (!in || !std::getline(in, value)) return std::nullopt;
  return value;
}

Status write_file(const std::string& path, const std::string& content) {
  UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd) return Error{"user namespace: open " + path + ": " + errno_text(errno)};
  ssize_t written;
  do {
    written = ::write(fd.get(), content.data(), content.size());
  } while (written < 0 && errno == EINTR);
  if (written != static_cast<ssize_t>(content.size())) {
    return Error{"user namespace: write \"" + content.substr(0, content.size() - 1) + "\" to " + path + ": " +
                 errno_text(written < 0 ? errno : EIO)};
  }
  return ok_status();
}

}  // namespace

int namespace_clone_flags(bool user_namespace) {
  int flags = CLONE_NEWNET | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWUTS | CLONE_NEWIPC;
  if (user_namespace) flags |= CLONE_NEWUSER;
  return flags;
}

bool wants_user_namespace(UserNamespaceMode mode) {
  switch (mode) {
    case UserNamespaceMode::always: return true;
    case UserNamespaceMode::never: return false;
    case UserNamespaceMode::automatic: break;
  }
  return ::geteuid() != 0;
}

std::string user_namespace_hint() {
  // Debian/Ubuntu kernels' switch (absent upstream).
  if (auto v = read_sysctl("/proc/sys/kernel/unprivileged_userns_clone"); v && *v == "0") {
    return "unprivileged user namespaces are disabled (kernel.unprivileged_userns_clone=0): run awf with sudo, "
           "or enable them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`";
  }
  if (auto v = read_sysctl("/proc/sys/user/max_user_namespaces"); v && *v == "0") {
    return "user namespaces are disabled (user.max_user_namespaces=0): run awf with sudo, or allow them with "
           "`sudo sysctl -w user.max_user_namespaces=15000`";
  }
  // Ubuntu 23.10+: AppArmor confines unprivileged user namespaces.
  if (auto v = read_sysctl("/proc/sys/kernel/apparmor_restrict_unprivileged_userns"); v && *v == "1") {
    return "AppArmor restricts unprivileged user namespaces (kernel.apparmor_restrict_unprivileged_userns=1): run "
           "awf with sudo, or add an AppArmor profile allowing `userns` for the awf binary";
  }
  return {};
}

Result<pid_t> clone_into_namespaces(int flags) {
  // The raw system call with no new stack behaves like fork(2): the child
  // continues here on a copy of the parent's stack. glibc's clone() wrapper
  // would need a separate stack and a function; this keeps the child's code
  // inline in start_agent() where its parent half is.
  const long pid = ::syscall(SYS_clone, static_cast<unsigned long>(flags) | SIGCHLD, nullptr, nullptr, nullptr,
                             nullptr);
  if (pid >= 0) return static_cast<pid_t>(pid);
  const int err = errno;
  std::string message = "cannot create the agent's namespaces: clone(" + flags_to_string(flags) + "): " +
                        errno_text(err);
  if ((flags & CLONE_NEWUSER) && (err == EPERM || err == ENOSPC || err == EINVAL || err == EACCES)) {
    const std::string hint = user_namespace_hint();
    message += hint.empty() ? "; user namespaces may be unavailable here: run awf with sudo" : "; " + hint;
  } else if (err == EPERM) {
    message += "; creating namespaces needs root or user namespaces: run awf with sudo";
  }
  return Error{message};
}

Status write_id_maps(pid_t child, uid_t outer_uid, gid_t outer_gid) {
  const std::string proc = "/proc/" + std::to_string(child);
  // user_namespaces(7): an unprivileged process may write gid_map only after
  // "deny" went to setgroups, and may map only its own IDs, one line each.
  if (auto status = write_file(proc + "/setgroups", "deny\n"); !status) {
    // Root may map without it; a missing file means an old kernel.
    if (::geteuid() != 0) return status;
  }
  if (auto status = write_file(proc + "/gid_map", std::to_string(outer_gid) + " " + std::to_string(outer_gid) +
                                                       " 1\n");
      !status) {
    return status;
  }
  return write_file(proc + "/uid_map", std::to_string(outer_uid) + " " + std::to_string(outer_uid) + " 1\n");
}

Status keep_capabilities_across_exec() {
  // capabilities(7): execve by a non-root uid clears the permitted set unless
  // the capabilities are ambient, and a capability can only be raised in the
  // ambient set when it is both permitted and inheritable.
  __user_cap_header_struct header{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct data[2]{};
  if (::syscall(SYS_capget, &header, data) != 0) return Error{"capget: " + errno_text(errno)};
  data[0].inheritable = data[0].permitted;
  data[1].inheritable = data[1].permitted;
  if (::syscall(SYS_capset, &header, data) != 0) return Error{"capset (inheritable): " + errno_text(errno)};
  for (int cap = 0; cap <= CAP_LAST_CAP; ++cap) {
    const auto& word = data[cap / 32];
    if (!(word.permitted & (1u << (cap % 32)))) continue;
    if (::prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, cap, 0, 0) != 0 && errno != EINVAL) {
      return Error{"prctl(PR_CAP_AMBIENT_RAISE, " + std::to_string(cap) + "): " + errno_text(errno)};
    }
  }
  return ok_status();
}

Status make_mounts_private() {
  // A new mount namespace copies the parent's mounts with their propagation:
  // on a shared "/" (systemd's default) a mount made by the entrypoint would
  // appear on the host. MS_REC|MS_PRIVATE cuts that link (mount_namespaces(7)).
  if (::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Error{"mount namespace: make / private (MS_REC|MS_PRIVATE): " + errno_text(errno)};
  }
  return ok_status();
}

}  // namespace awf::runtime
