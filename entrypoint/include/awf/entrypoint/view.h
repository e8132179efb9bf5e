// The selective-mount view: awf's table of what the command sees of the host,
// as data, and the code that builds it in a fresh tmpfs root.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "awf/entrypoint/config.h"
#include "awf/result.h"

namespace awf::entrypoint {

enum class MountKind {
  kBind,     // host `source` at `target`
  kTmpfs,    // empty tmpfs at `target`
  kSymlink,  // `target` -> `source` (usr-merged /bin, /lib, ...)
  kMask,     // /dev/null over a credential file, read-only
};

struct MountEntry {
  MountKind kind = MountKind::kBind;
  std::string source;
  std::string target;
  bool writable = false;
  bool recursive = false;
  bool optional = false;       // skipped when the source is missing
  bool owned_by_user = false;  // directories created on the way belong to the user
  std::string tmpfs_options;   // kTmpfs: mode=, size=
};

// Credential files awf hides under $HOME: each reads empty.
const std::vector<std::string>& credential_files();
// $HOME subdirectories awf mounts read-write from the host home.
const std::vector<std::string>& home_allowlist();
// /etc entries awf exposes read-only.
const std::vector<std::string>& etc_allowlist();

// The table for `cfg`, in mount order (parents before children, masks last).
// Looks at the host only to tell symlinked system directories and missing
// optional sources apart.
std::vector<MountEntry> selective_mount_table(const Config& cfg);

// Mounts a tmpfs at `root` and applies `table` inside it.
Status build_view(const std::string& root, const std::vector<MountEntry>& table, uid_t uid, gid_t gid);

// After every step has written into the view: the root, /etc and /dev
// tmpfs become read-only (the command writes only where awf lets it).
Status seal_view(const std::string& root);

// --mount extras (both modes) and credential masks over existing files (both
// modes; in a prepared view only where the file exists).
Status apply_extra_mounts(const std::string& root, const std::vector<ExtraMount>& mounts);
Status mask_credentials(const std::string& root, const std::string& home);

// Unix sockets in the host directories the view shows (the allowed $HOME
// directories, the workspace, the tool cache, --mount targets; a read-only
// mount does not stop connect(2)) would let the
// command talk to host servers outside its network namespace (an editor's or
// a container engine's socket). Each one found within `max_depth` levels is
// covered with /dev/null (connect then fails). The walk stops after
// `max_entries` entries and says so; it never follows a link.
struct SocketScan {
  int max_depth = 4;
  size_t max_entries = 20000;
};
Status mask_host_sockets(const std::string& root, const std::vector<std::string>& dirs, const SocketScan& limits = {});
// The directories mask_host_sockets() walks for a built view.
std::vector<std::string> writable_host_dirs(const Config& cfg);

}  // namespace awf::entrypoint
