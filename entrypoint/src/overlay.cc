// Places generated files over paths in the command's root via bind mounts.
#include "awf/entrypoint/overlay.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>

#include "awf/entrypoint/log.h"
#include "awf/entrypoint/mounts.h"

namespace awf::entrypoint {

Result<std::string> read_file(const std::string& path, bool missing_ok) {
  UniqueFd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd.valid()) {
    if (missing_ok && errno == ENOENT) return std::string();
    return Error{fmt::format("Reading \"{}\" failed: {}", path, errno_text(errno))};
  }
  std::string out;
  char buf[8192];
  while (true) {
    ssize_t n = read(fd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return Error{fmt::format("Reading \"{}\" failed: {}", path, errno_text(errno))};
    if (n == 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  return out;
}

Result<std::string> read_file_in_root(const std::string& root, const std::string& path, bool missing_ok) {
  auto target = open_in_root(root, path, CreateOptions{.create = false});
  if (!target) {
    if (missing_ok && missing_in_root(root, path)) return std::string();
    return target.error();
  }
  // Re-open the O_PATH descriptor for reading through its /proc/self/fd link.
  return read_file(target->mount_path(), false);
}

Status FileOverlay::place(const std::string& root, const std::string& path, const std::string& content) {
  const std::string staged = fmt::format("{}/overlay-{}", scratch_, counter_++);
  {
    UniqueFd fd(open(staged.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644));
    if (!fd.valid()) return Error{fmt::format("Creating \"{}\" failed: {}", staged, errno_text(errno))};
    size_t off = 0;
    while (off < content.size()) {
      ssize_t n = write(fd.get(), content.data() + off, content.size() - off);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return Error{fmt::format("Writing \"{}\" failed: {}", staged, errno_text(errno))};
      off += static_cast<size_t>(n);
    }
  }
  auto target = open_in_root(root, path, CreateOptions{.last_is_dir = false});
  if (!target) return target.error();
  if (target->created && remove_created_) {
    // Remember how to remove it: the parent directory by fd, then the name.
    size_t slash = path.find_last_of('/');
    auto parent = open_in_root(root, path.substr(0, slash == 0 ? 1 : slash), CreateOptions{.create = false});
    if (!parent) return parent.error();
    UniqueFd dir(openat(parent->fd.get(), ".", O_DIRECTORY | O_CLOEXEC));
    created_.push_back({target->host_path, std::move(dir), path.substr(slash + 1)});
  }
  return bind_mount(staged, *target, BindOptions{.readonly = true});
}

void FileOverlay::restore() {
  for (auto& c : created_) {
    // Our mount namespace still holds the bind: a mount point cannot be
    // unlinked (EBUSY), so detach it first.
    if (umount2(c.host_path.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) != 0 && errno != EINVAL) {
      log_warn(fmt::format("Unmounting {} failed: {}", c.host_path, errno_text(errno)));
    }
    if (c.parent.valid() && unlinkat(c.parent.get(), c.name.c_str(), 0) != 0 && errno != ENOENT) {
      log_warn(fmt::format("Removing {} (created for the sandbox) failed: {}", c.host_path, errno_text(errno)));
    }
  }
  created_.clear();
}

FileOverlay::~FileOverlay() { restore(); }

}  // namespace awf::entrypoint
