// Mounts procfs and the read-only cgroup tree inside the command's root.
#include "awf/entrypoint/procfs.h"

#include <sys/mount.h>
#include <sys/stat.h>

#include <fmt/format.h>

#include "awf/entrypoint/log.h"
#include "awf/entrypoint/mounts.h"

namespace awf::entrypoint {

Status mount_procfs(const std::string& root) {
  auto target = open_in_root(root, "/proc", CreateOptions{});
  if (!target) return target.error();
  // A new procfs (not a bind of ours) so it shows the PID namespace we are
  // init of, and the mount options apply only to it.
  if (auto s = mount_at("proc", "proc", *target, MS_NOSUID | MS_NODEV | MS_NOEXEC, "hidepid=2"); !s) {
    return Error{fmt::format("Failed to mount procfs at {}/proc\n{}\n"
                             "Java and .NET need /proc/self/exe; the sandbox cannot start without procfs.",
                             root == "/" ? "" : root, s.message())};
  }
  return ok_status();
}

Status mount_cgroup_readonly(const std::string& root) {
  struct stat st;
  if (::stat("/sys/fs/cgroup", &st) != 0) return ok_status();
  auto target = open_in_root(root, "/sys/fs/cgroup", CreateOptions{.create = false});
  if (!target) {
    log_warn(fmt::format("Not exposing /sys/fs/cgroup: {}", target.message()));
    return ok_status();
  }
  // Clone, make read-only, attach: never visible writable (awf had to
  // unmount a writable mount it failed to remount).
  if (auto s = bind_mount("/sys/fs/cgroup", *target, BindOptions{.readonly = true, .recursive = true}); !s) {
    log_warn(fmt::format("Not exposing /sys/fs/cgroup read-only: {}", s.message()));
  }
  return ok_status();
}

}  // namespace awf::entrypoint
