// Mount primitives: a private mount namespace, bind/tmpfs/proc mounts with
// errors that name the paths and flags, targets resolved inside a root
// without following its symlinks out of it, and RAII for the work directory.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <vector>

#include "awf/unique_fd.h"
#include "awf/result.h"

namespace awf::entrypoint {

// MS_RDONLY|MS_NOSUID -> "MS_RDONLY|MS_NOSUID" (nsjail flagsToStr style).
std::string mount_flags_to_string(unsigned long flags);

// unshare(CLONE_NEWNS) and make every mount private, so nothing we mount
// propagates back to the host (mount_namespaces(7)).
Status enter_private_mount_namespace();

Status mount_checked(const std::string& source, const std::string& target, const char* fstype,
                     unsigned long flags, const std::string& data);

// A path inside `root`, opened O_PATH with symlinks resolved as if `root` were
// "/" (openat2 RESOLVE_IN_ROOT), missing components created (directories with
// `dir_mode`, a missing last component as a directory or an empty file).
// `mount_path()` is a /proc/self/fd path that mount(2) can use as a target.
struct RootPath {
  UniqueFd fd;
  bool created = false;    // the last component did not exist before
  std::string host_path;   // root + path, for messages and cleanup
  std::string mount_path() const;
};
struct CreateOptions {
  bool create = true;
  bool last_is_dir = true;
  mode_t dir_mode = 0755;
  std::optional<uid_t> owner_uid;  // chown created directories (the user's home)
  std::optional<gid_t> owner_gid;
};
Result<RootPath> open_in_root(const std::string& root, const std::string& path, const CreateOptions& options);

// True when `path` (symlinks resolved inside `root`) does not exist.
bool missing_in_root(const std::string& root, const std::string& path);

struct BindOptions {
  bool readonly = false;
  bool recursive = false;
  bool nosuid = false;
  bool nodev = false;
};
// Bind `source` onto `target`: clone the tree detached (open_tree(2)), set the
// attributes on the clone (mount_setattr(2) only adds attributes, so flags the
// kernel locked on the source stay), then attach it by fd (move_mount(2)). No
// window where the mount is visible but still writable, no path re-resolution.
Status bind_mount(const std::string& source, const RootPath& target, const BindOptions& options);

// Mount a filesystem (tmpfs, proc) onto `target` through its /proc/self/fd path.
Status mount_at(const char* fstype, const std::string& source, const RootPath& target, unsigned long flags,
                const std::string& data);

// Make the mount at `path` inside `root` read-only; the path is opened again
// so that it names the mount on top, not the directory below it.
Status make_readonly(const std::string& root, const std::string& path, bool recursive);

// A private working directory for one run: mkdtemp under `parent`, with a
// tmpfs on it (in our mount namespace only). The destructor detaches the
// tmpfs and removes the directory, on every exit path.
class WorkDir {
 public:
  static Result<WorkDir> create(const std::string& parent);
  WorkDir() = default;
  WorkDir(WorkDir&& other) noexcept;
  WorkDir& operator=(WorkDir&& other) noexcept;
  ~WorkDir();
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  bool mounted_ = false;
};

}  // namespace awf::entrypoint
