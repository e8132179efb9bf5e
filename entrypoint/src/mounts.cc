// Mount primitives shared by the view builder, procfs, DNS and identity steps.
#include "awf/entrypoint/mounts.h"

#include <fcntl.h>
#include <linux/openat2.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <utility>

#include "awf/entrypoint/log.h"

namespace awf::entrypoint {
namespace {

std::string hint_for(int err) {
  switch (err) {
    case EPERM:
      return " (is the entrypoint running as root with CAP_SYS_ADMIN in its user namespace?)";
    case EACCES:
      return " (a parent directory may lack search permission: chmod o+x)";
    case ENOSYS:
      return " (kernel too old: mount_setattr/openat2 need Linux 5.12+)";
    default:
      return "";
  }
}

std::vector<std::string> split_path(const std::string& path) {
  std::vector<std::string> parts;
  size_t start = 0;
  while (start < path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string::npos) end = path.size();
    if (end > start) parts.push_back(path.substr(start, end - start));
    start = end + 1;
  }
  return parts;
}

long openat2_in_root(int root_fd, const std::string& rel, uint64_t flags) {
  struct open_how how {};
  how.flags = flags | O_CLOEXEC;
  // RESOLVE_IN_ROOT: absolute symlinks and ".." stay inside the root, so a
  // symlink planted in a prepared view cannot redirect our mount to the host.
  how.resolve = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;
  long fd;
  do {
    fd = syscall(SYS_openat2, root_fd, rel.c_str(), &how, sizeof how);
  } while (fd < 0 && (errno == EINTR || errno == EAGAIN));
  return fd;
}

}  // namespace

std::string mount_flags_to_string(unsigned long flags) {
  static const std::pair<unsigned long, const char*> kNames[] = {
      {MS_RDONLY, "MS_RDONLY"},   {MS_NOSUID, "MS_NOSUID"},     {MS_NODEV, "MS_NODEV"},
      {MS_NOEXEC, "MS_NOEXEC"},   {MS_REMOUNT, "MS_REMOUNT"},   {MS_BIND, "MS_BIND"},
      {MS_MOVE, "MS_MOVE"},       {MS_REC, "MS_REC"},           {MS_PRIVATE, "MS_PRIVATE"},
      {MS_SLAVE, "MS_SLAVE"},     {MS_SHARED, "MS_SHARED"},     {MS_NOATIME, "MS_NOATIME"},
      {MS_RELATIME, "MS_RELATIME"}, {MS_STRICTATIME, "MS_STRICTATIME"},
  };
  std::string out;
  for (const auto& [bit, name] : kNames) {
    if (flags & bit) {
      if (!out.empty()) out += '|';
      out += name;
      flags &= ~bit;
    }
  }
  if (flags != 0) {
    if (!out.empty()) out += '|';
    out += fmt::format("{:#x}", flags);
  }
  return out.empty() ? "0" : out;
}

Status enter_private_mount_namespace() {
  if (unshare(CLONE_NEWNS) != 0) {
    int err = errno;
    return Error{fmt::format("unshare(CLONE_NEWNS) failed: {}{}", errno_text(err), hint_for(err))};
  }
  if (mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0) {
    return Error{fmt::format("Making / private (MS_REC|MS_PRIVATE) failed: {}", errno_text(errno))};
  }
  return ok_status();
}

Status mount_checked(const std::string& source, const std::string& target, const char* fstype,
                     unsigned long flags, const std::string& data) {
  if (mount(source.c_str(), target.c_str(), fstype, flags, data.empty() ? nullptr : data.c_str()) != 0) {
    int err = errno;
    return Error{fmt::format("mount(\"{}\" -> \"{}\", type={}, flags={}, data=\"{}\") failed: {}{}", source, target,
                             fstype ? fstype : "none", mount_flags_to_string(flags), data, errno_text(err),
                             hint_for(err))};
  }
  return ok_status();
}

std::string RootPath::mount_path() const { return fmt::format("/proc/self/fd/{}", fd.get()); }

Result<RootPath> open_in_root(const std::string& root, const std::string& path, const CreateOptions& options) {
  UniqueFd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return Error{fmt::format("Opening root \"{}\" failed: {}", root, errno_text(errno))};
  RootPath result;
  result.host_path = root == "/" ? path : root + path;
  const std::vector<std::string> parts = split_path(path);
  UniqueFd current(fcntl(root_fd.get(), F_DUPFD_CLOEXEC, 0));
  std::string prefix;
  for (size_t i = 0; i < parts.size(); ++i) {
    const bool last = i + 1 == parts.size();
    prefix += (prefix.empty() ? "" : "/") + parts[i];
    long fd = openat2_in_root(root_fd.get(), prefix, O_PATH);
    if (fd >= 0) {
      current.reset(static_cast<int>(fd));
      continue;
    }
    int err = errno;
    if (err != ENOENT || !options.create) {
      return Error{fmt::format("Resolving \"{}\" inside \"{}\" failed: {}", prefix, root, errno_text(err))};
    }
    if (last && !options.last_is_dir) {
      int created = openat(current.get(), parts[i].c_str(), O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC, 0644);
      if (created < 0) {
        return Error{fmt::format("Creating file \"{}\" inside \"{}\" failed: {}", prefix, root, errno_text(errno))};
      }
      close(created);
    } else {
      if (mkdirat(current.get(), parts[i].c_str(), options.dir_mode) != 0 && errno != EEXIST) {
        int e = errno;
        return Error{fmt::format("Creating directory \"{}\" inside \"{}\" failed: {}{}", prefix, root, errno_text(e),
                                 e == EROFS ? " (its parent is a read-only mount)" : "")};
      }
    }
    UniqueFd opened(openat(current.get(), parts[i].c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC));
    if (!opened.valid()) {
      return Error{fmt::format("Opening created \"{}\" inside \"{}\" failed: {}", prefix, root, errno_text(errno))};
    }
    if (options.owner_uid && (!last || options.last_is_dir)) {
      // Directories made inside the user's home belong to the user, or they
      // could not create ~/.local/share next to a mounted ~/.local/bin.
      if (fchownat(opened.get(), "", *options.owner_uid, options.owner_gid.value_or(-1), AT_EMPTY_PATH) != 0) {
        return Error{fmt::format("chown of \"{}\" failed: {}", prefix, errno_text(errno))};
      }
    }
    if (last) result.created = true;
    current = std::move(opened);
  }
  result.fd = std::move(current);
  return result;
}

Status bind_mount(const std::string& source, const RootPath& target, const BindOptions& options) {
  unsigned recursive = options.recursive ? AT_RECURSIVE : 0;
  UniqueFd tree(open_tree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive));
  if (!tree.valid() && errno == EINVAL && !options.recursive) {
    // In a user namespace, mounts inherited from a more privileged one are
    // locked to their children: cloning one without them would reveal what
    // they cover, so the kernel allows only the whole subtree (open_tree(2)).
    recursive = AT_RECURSIVE;
    tree.reset(open_tree(AT_FDCWD, source.c_str(), OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | recursive));
  }
  if (!tree.valid()) {
    int err = errno;
    return Error{fmt::format("Cloning \"{}\" for a bind mount at \"{}\" (open_tree{}) failed: {}{}", source,
                             target.host_path, recursive ? ", AT_RECURSIVE" : "", errno_text(err),
                             hint_for(err))};
  }
  struct mount_attr attr {};
  if (options.readonly) attr.attr_set |= MOUNT_ATTR_RDONLY;
  if (options.nosuid) attr.attr_set |= MOUNT_ATTR_NOSUID;
  if (options.nodev) attr.attr_set |= MOUNT_ATTR_NODEV;
  if (attr.attr_set != 0 &&
      mount_setattr(tree.get(), "", AT_EMPTY_PATH | recursive, &attr, sizeof attr) != 0) {
    int err = errno;
    return Error{fmt::format("Setting {}{}{} on the bind mount of \"{}\" failed: {}{}",
                             options.readonly ? "read-only " : "", options.nosuid ? "nosuid " : "",
                             options.nodev ? "nodev" : "", source, errno_text(err), hint_for(err))};
  }
  if (move_mount(tree.get(), "", target.fd.get(), "", MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH) != 0) {
    int err = errno;
    return Error{fmt::format("Attaching the bind mount of \"{}\" at \"{}\" (move_mount) failed: {}{}", source,
                             target.host_path, errno_text(err), hint_for(err))};
  }
  return ok_status();
}

Status mount_at(const char* fstype, const std::string& source, const RootPath& target, unsigned long flags,
                const std::string& data) {
  if (mount(source.c_str(), target.mount_path().c_str(), fstype, flags, data.empty() ? nullptr : data.c_str()) != 0) {
    int err = errno;
    return Error{fmt::format("mount(\"{}\" at \"{}\", type={}, flags={}, data=\"{}\") failed: {}{}", source,
                             target.host_path, fstype, mount_flags_to_string(flags), data, errno_text(err),
                             hint_for(err))};
  }
  return ok_status();
}

Status make_readonly(const std::string& root, const std::string& path, bool recursive) {
  auto target = open_in_root(root, path, CreateOptions{.create = false});
  if (!target) return target.error();
  struct mount_attr attr {};
  attr.attr_set = MOUNT_ATTR_RDONLY;
  if (mount_setattr(target->fd.get(), "", AT_EMPTY_PATH | (recursive ? AT_RECURSIVE : 0), &attr, sizeof attr) != 0) {
    int err = errno;
    return Error{fmt::format("Making \"{}\" read-only (mount_setattr{}) failed: {}{}", target->host_path,
                             recursive ? ", AT_RECURSIVE" : "", errno_text(err), hint_for(err))};
  }
  return ok_status();
}

bool missing_in_root(const std::string& root, const std::string& path) {
  UniqueFd root_fd(open(root.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
  if (!root_fd.valid()) return false;
  std::string rel = path;
  while (!rel.empty() && rel[0] == '/') rel.erase(0, 1);
  long fd = openat2_in_root(root_fd.get(), rel.empty() ? "." : rel, O_PATH);
  if (fd >= 0) {
    close(static_cast<int>(fd));
    return false;
  }
  return errno == ENOENT;
}

Result<WorkDir> WorkDir::create(const std::string& parent) {
  std::string templ = parent + "/awf-entrypoint.XXXXXX";
  if (mkdtemp(templ.data()) == nullptr) {
    return Error{fmt::format("Creating a work directory under \"{}\" failed: {}", parent, errno_text(errno))};
  }
  WorkDir dir;
  dir.path_ = templ;
  if (auto s = mount_checked("awf-entrypoint", dir.path_, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0700,size=16m"); !s) {
    return s.error();  // the destructor removes the directory
  }
  dir.mounted_ = true;
  return dir;
}

WorkDir::WorkDir(WorkDir&& other) noexcept
    : path_(std::exchange(other.path_, {})), mounted_(std::exchange(other.mounted_, false)) {}

WorkDir& WorkDir::operator=(WorkDir&& other) noexcept {
  if (this != &other) {
    this->~WorkDir();
    path_ = std::exchange(other.path_, {});
    mounted_ = std::exchange(other.mounted_, false);
  }
  return *this;
}

WorkDir::~WorkDir() {
  if (path_.empty()) return;
  // MNT_DETACH: the view below may still be busy (open files of exiting
  // processes); lazily unmounting lets the directory go now.
  if (mounted_ && umount2(path_.c_str(), MNT_DETACH) != 0) {
    log_warn(fmt::format("Unmounting work directory {} failed: {}", path_, errno_text(errno)));
  }
  if (rmdir(path_.c_str()) != 0) {
    log_warn(fmt::format("Removing work directory {} failed: {}", path_, errno_text(errno)));
  }
  path_.clear();
}

}  // namespace awf::entrypoint
