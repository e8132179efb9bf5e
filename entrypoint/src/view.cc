// Builds the command's root from awf's selective-mount table: system
// directories read-only, workspace and /tmp read-write, an empty $HOME with
// the allowed tool directories, credential files masked by /dev/null.
#include "awf/entrypoint/view.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <fmt/format.h>

#include "awf/entrypoint/log.h"
#include "awf/entrypoint/mounts.h"

namespace awf::entrypoint {
namespace {

size_t depth(const std::string& path) { return static_cast<size_t>(std::count(path.begin(), path.end(), '/')); }

bool lexists(const std::string& path, struct stat* st) { return ::lstat(path.c_str(), st) == 0; }

// A minimal /dev instead of the host's: the command needs the character
// devices every program expects and a terminal, not the host's disks.
const char* const kDevices[] = {"null", "zero", "full", "random", "urandom", "tty"};

}  // namespace

const std::vector<std::string>& credential_files() {
  static const std::vector<std::string> files = {
      ".docker/config.json",
      ".npmrc",
      ".composer/auth.json",
      ".ssh/id_rsa",
      ".ssh/id_ed25519",
      ".ssh/id_ecdsa",
      ".ssh/id_dsa",
      ".aws/credentials",
      ".aws/config",
      ".kube/config",
      ".azure/credentials",
      ".azure/msal_token_cache.bin",
      ".azure/msal_token_cache.json",
      ".azure/accessTokens.json",
      ".azure/service_principal_entries.json",
      ".cargo/credentials",
      ".cargo/credentials.toml",
      ".claude/.credentials.json",
      ".gemini/oauth_creds.json",
      ".gemini/google_accounts.json",
      ".gemini/access_tokens.json",
      ".config/gh/hosts.yml",
      ".config/gcloud/credentials.db",
      ".config/gcloud/access_tokens.db",
      ".config/gcloud/application_default_credentials.json",
      ".config/doctl/config.yaml",
      ".config/rclone/rclone.conf",
      ".config/containers/auth.json",
      ".config/pulumi/credentials.json",
      ".config/helm/repositories.yaml",
  };
  return files;
}

const std::vector<std::string>& home_allowlist() {
  // Never .ssh .aws .docker .kube .gnupg .netrc .gitconfig .git-credentials.
  static const std::vector<std::string> dirs = {
      ".cache", ".config", ".local/bin", ".local/lib", ".local/lib64", ".local/share", ".local/pipx",
      ".azure", ".anthropic", ".claude", ".cargo", ".rustup", ".npm", ".nvm", ".copilot",
  };
  return dirs;
}

const std::vector<std::string>& etc_allowlist() {
  static const std::vector<std::string> entries = {
      "ssl", "ca-certificates", "pki/ca-trust/extracted", "pki/tls/certs", "alternatives",
      "ld.so.cache", "nsswitch.conf", "passwd", "group", "hosts",
  };
  return entries;
}

std::vector<MountEntry> selective_mount_table(const Config& cfg) {
  std::vector<MountEntry> table;
  auto add = [&](MountEntry e) { table.push_back(std::move(e)); };

  add({.kind = MountKind::kTmpfs, .target = "/etc", .tmpfs_options = "mode=0755,size=4m"});
  add({.kind = MountKind::kTmpfs, .target = "/dev", .tmpfs_options = "mode=0755,size=64k"});

  // System directories, read-only. On usr-merged hosts /bin, /lib... are
  // symlinks into /usr: recreate the link rather than mount through it.
  for (const char* dir : {"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32", "/opt"}) {
    struct stat st;
    if (!lexists(dir, &st)) continue;
    if (S_ISLNK(st.st_mode)) {
      char link[4096];
      ssize_t n = readlink(dir, link, sizeof link - 1);
      if (n <= 0) continue;
      add({.kind = MountKind::kSymlink, .source = std::string(link, static_cast<size_t>(n)), .target = dir});
    } else if (S_ISDIR(st.st_mode)) {
      add({.kind = MountKind::kBind, .source = dir, .target = dir, .recursive = true});
    }
  }
  // /sys read-only without its submounts; /sys/fs/cgroup is the procfs step's.
  add({.kind = MountKind::kBind, .source = "/sys", .target = "/sys", .optional = true});

  for (const auto& name : etc_allowlist()) {
    add({.kind = MountKind::kBind, .source = "/etc/" + name, .target = "/etc/" + name, .recursive = true,
         .optional = true});
  }
  for (const auto& name : cfg.etc_entries) {
    add({.kind = MountKind::kBind, .source = "/etc/" + name, .target = "/etc/" + name, .recursive = true,
         .optional = true});
  }

  for (const char* dev : kDevices) {
    add({.kind = MountKind::kBind, .source = std::string("/dev/") + dev, .target = std::string("/dev/") + dev,
         .writable = true, .optional = true});
  }
  add({.kind = MountKind::kBind, .source = "/dev/pts", .target = "/dev/pts", .writable = true, .optional = true});
  add({.kind = MountKind::kTmpfs, .target = "/dev/shm", .tmpfs_options = "mode=1777,size=64m"});
  add({.kind = MountKind::kSymlink, .source = "/proc/self/fd", .target = "/dev/fd"});
  add({.kind = MountKind::kSymlink, .source = "/proc/self/fd/0", .target = "/dev/stdin"});
  add({.kind = MountKind::kSymlink, .source = "/proc/self/fd/1", .target = "/dev/stdout"});
  add({.kind = MountKind::kSymlink, .source = "/proc/self/fd/2", .target = "/dev/stderr"});
  add({.kind = MountKind::kSymlink, .source = "pts/ptmx", .target = "/dev/ptmx"});

  // awf shares the whole host /tmp read-write.
  add({.kind = MountKind::kBind, .source = cfg.tmp_source, .target = "/tmp", .writable = true});

  // $HOME starts empty (awf home-strategy.ts) and belongs to the user.
  add({.kind = MountKind::kTmpfs,
       .target = cfg.home,
       .owned_by_user = true,
       .tmpfs_options = fmt::format("mode=0755,uid={},gid={},size=256m", cfg.uid, cfg.gid)});
  for (const auto& sub : home_allowlist()) {
    add({.kind = MountKind::kBind, .source = cfg.home + "/" + sub, .target = cfg.home + "/" + sub,
         .writable = true, .recursive = true, .optional = true, .owned_by_user = true});
  }
  if (!cfg.tool_cache.empty()) {
    add({.kind = MountKind::kBind, .source = cfg.tool_cache, .target = cfg.tool_cache, .recursive = true,
         .optional = true});
  }
  if (!cfg.workspace.empty()) {
    add({.kind = MountKind::kBind, .source = cfg.workspace, .target = cfg.workspace, .writable = true,
         .recursive = true});
  }

  // Parents before children; equal depth keeps table order (so the workspace
  // wins over $HOME when they are the same directory, as in awf).
  std::stable_sort(table.begin(), table.end(),
                   [](const MountEntry& a, const MountEntry& b) { return depth(a.target) < depth(b.target); });

  // Credential files that would live in the empty $HOME itself (not inside a
  // host directory mounted above) are created there and masked, so reading
  // them succeeds with nothing, as awf's tests expect. Those inside a mounted
  // host directory are masked by mask_credentials() where they exist.
  // When the workspace is the home or contains it, the host directory is
  // mounted over the empty home: creating anything there would write to the
  // host, so only existing files are masked then.
  const bool home_is_host_dir =
      !cfg.workspace.empty() && (cfg.workspace == cfg.home || cfg.home.rfind(cfg.workspace + "/", 0) == 0);
  for (const auto& file : credential_files()) {
    if (home_is_host_dir) break;
    bool under_mounted_dir = false;
    for (const auto& sub : home_allowlist()) {
      struct stat st;
      if (file.rfind(sub + "/", 0) == 0 && ::stat((cfg.home + "/" + sub).c_str(), &st) == 0) {
        under_mounted_dir = true;
      }
    }
    if (!under_mounted_dir) {
      table.push_back({.kind = MountKind::kMask, .target = cfg.home + "/" + file, .owned_by_user = true});
    }
  }
  return table;
}

namespace {

Status apply_entry(const std::string& root, const MountEntry& e, uid_t uid, gid_t gid) {
  CreateOptions create;
  if (e.owned_by_user) {
    create.owner_uid = uid;
    create.owner_gid = gid;
  }
  switch (e.kind) {
    case MountKind::kTmpfs: {
      auto target = open_in_root(root, e.target, create);
      if (!target) return target.error();
      return mount_at("tmpfs", "tmpfs", *target, MS_NOSUID | MS_NODEV, e.tmpfs_options);
    }
    case MountKind::kSymlink: {
      std::string path = root + e.target;
      if (symlink(e.source.c_str(), path.c_str()) != 0 && errno != EEXIST) {
        return Error{fmt::format("Creating symlink \"{}\" -> \"{}\" failed: {}", path, e.source, errno_text(errno))};
      }
      return ok_status();
    }
    case MountKind::kBind:
    case MountKind::kMask: {
      struct stat st;
      std::string source = e.kind == MountKind::kMask ? "/dev/null" : e.source;
      if (::stat(source.c_str(), &st) != 0) {
        if (e.optional && errno == ENOENT) return ok_status();
        return Error{fmt::format("Mount source \"{}\" for \"{}\": {}", source, e.target, errno_text(errno))};
      }
      create.last_is_dir = S_ISDIR(st.st_mode);
      auto target = open_in_root(root, e.target, create);
      if (!target) return target.error();
      // Writable places get nosuid and nodev; device nodes under /dev must keep working.
      const bool is_device = e.target.rfind("/dev/", 0) == 0;
      return bind_mount(source, *target,
                        BindOptions{.readonly = !e.writable, .recursive = e.recursive, .nosuid = e.writable,
                                    .nodev = e.writable && !is_device});
    }
  }
  return ok_status();
}

}  // namespace

Status build_view(const std::string& root, const std::vector<MountEntry>& table, uid_t uid, gid_t gid) {
  if (auto s = mount_checked("awf-root", root, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=4m"); !s) return s;
  for (const auto& entry : table) {
    if (auto s = apply_entry(root, entry, uid, gid); !s) return s;
  }
  return ok_status();
}

Status seal_view(const std::string& root) {
  for (const char* path : {"/etc", "/dev", "/"}) {
    if (auto s = make_readonly(root, path, false); !s) return s;
  }
  return ok_status();
}

Status apply_extra_mounts(const std::string& root, const std::vector<ExtraMount>& mounts) {
  for (const auto& m : mounts) {
    MountEntry e{.kind = MountKind::kBind, .source = m.source, .target = m.target, .writable = m.writable,
                 .recursive = true};
    if (auto s = apply_entry(root, e, 0, 0); !s) {
      return Error{fmt::format("--mount {}:{}: {}", m.source, m.target, s.message())};
    }
  }
  return ok_status();
}

Status mask_credentials(const std::string& root, const std::string& home) {
  if (home.empty() || home == "/") return ok_status();
  for (const auto& file : credential_files()) {
    const std::string target = home + "/" + file;
    // Only existing files: creating one would mean writing into the host's
    // home through a mounted directory (files in the empty $HOME of a built
    // view are created and masked by the table instead).
    auto existing = open_in_root(root, target, CreateOptions{.create = false});
    if (!existing) continue;
    struct stat st;
    if (fstatat(existing->fd.get(), "", &st, AT_EMPTY_PATH) != 0 || !S_ISREG(st.st_mode)) continue;
    if (auto s = bind_mount("/dev/null", *existing, BindOptions{.readonly = true}); !s) return s;
  }
  // The Docker socket: awf masks both spellings.
  for (const char* sock : {"/var/run/docker.sock", "/run/docker.sock"}) {
    auto existing = open_in_root(root, sock, CreateOptions{.create = false});
    if (!existing) continue;
    if (auto s = bind_mount("/dev/null", *existing, BindOptions{.readonly = true}); !s) return s;
  }
  return ok_status();
}

namespace {

struct SocketWalk {
  const std::string& root;
  const SocketScan& limits;
  size_t entries = 0;
  std::vector<std::string> found;  // paths inside the root
};

void find_sockets(int dir_fd, const std::string& path, int depth, SocketWalk& walk) {
  DIR* dir = fdopendir(dir_fd);
  if (dir == nullptr) {
    close(dir_fd);
    return;
  }
  while (const dirent* entry = readdir(dir)) {
    const std::string name = entry->d_name;
    if (name == "." || name == "..") continue;
    if (++walk.entries > walk.limits.max_entries) break;
    // The entry's type as the directory lists it; a stat only where the
    // file system leaves it out. (A workspace of thousands of files: the
    // stat per entry was half of this walk's time.)
    bool is_socket = entry->d_type == DT_SOCK;
    bool is_dir = entry->d_type == DT_DIR;
    if (entry->d_type == DT_UNKNOWN) {
      struct stat st;
      if (fstatat(dirfd(dir), name.c_str(), &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
      is_socket = S_ISSOCK(st.st_mode);
      is_dir = S_ISDIR(st.st_mode);
    }
    if (is_socket) {
      walk.found.push_back(path + "/" + name);
    } else if (is_dir && depth < walk.limits.max_depth) {
      int child = openat(dirfd(dir), name.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
      if (child >= 0) find_sockets(child, path + "/" + name, depth + 1, walk);
    }
  }
  closedir(dir);
}

}  // namespace

std::vector<std::string> writable_host_dirs(const Config& cfg) {
  std::vector<std::string> dirs;
  for (const auto& sub : home_allowlist()) dirs.push_back(cfg.home + "/" + sub);
  if (!cfg.workspace.empty()) dirs.push_back(cfg.workspace);
  if (!cfg.tool_cache.empty()) dirs.push_back(cfg.tool_cache);
  for (const auto& m : cfg.mounts) dirs.push_back(m.target);  // --mount: read-only does not stop connect(2)
  return dirs;
}

Status mask_host_sockets(const std::string& root, const std::vector<std::string>& dirs, const SocketScan& limits) {
  SocketWalk walk{root, limits, 0, {}};
  for (const auto& dir : dirs) {
    auto opened = open_in_root(root, dir, CreateOptions{.create = false});
    if (!opened) continue;  // not in this view
    int fd = openat(opened->fd.get(), ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) continue;
    find_sockets(fd, dir, 0, walk);
    if (walk.entries > limits.max_entries) {
      log_warn(fmt::format("Stopped looking for host Unix sockets after {} entries (in {}); sockets further in "
                           "stay reachable from the command",
                           limits.max_entries, dir));
      break;
    }
  }
  for (const auto& socket : walk.found) {
    auto target = open_in_root(root, socket, CreateOptions{.create = false});
    if (!target) return target.error();
    if (auto s = bind_mount("/dev/null", *target, BindOptions{.readonly = true}); !s) return s;
    log_info(fmt::format("Host Unix socket {} hidden from the command", socket));
  }
  return ok_status();
}

}  // namespace awf::entrypoint
