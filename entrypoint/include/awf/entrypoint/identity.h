// Who the command runs as: the host user's UID/GID (never root), a name from
// the root's passwd, or a synthesized entry when the UID has none, so that
// whoami, git and ssh work; supplementary groups from the root's group file.
#pragma once

#include <sys/types.h>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "awf/entrypoint/overlay.h"
#include "awf/result.h"

namespace awf::entrypoint {

struct PasswdEntry {
  std::string name;
  uid_t uid = 0;
  gid_t gid = 0;
  std::string gecos, home, shell;
};
struct GroupEntry {
  std::string name;
  gid_t gid = 0;
  std::vector<std::string> members;
};
// Malformed lines are skipped: the files belong to the host, not to us.
std::vector<PasswdEntry> parse_passwd(std::string_view text);
std::vector<GroupEntry> parse_group(std::string_view text);

struct Identity {
  uid_t uid = 0;
  gid_t gid = 0;
  std::string name;
  std::string home;
  std::vector<gid_t> groups;  // supplementary, primary included
};

struct IdentityPlan {
  Identity identity;
  std::optional<std::string> passwd;  // new passwd content when the UID had no entry
  std::optional<std::string> group;   // new group content when the GID had no entry
};

// `home` is the home the command gets ($HOME); `user_override` replaces the
// name in USER/LOGNAME (AWF_CHROOT_IDENTITY_USER). Synthesized names follow
// awf: "runner", else "runner-<uid>", else "runner-<uid>-<n>".
IdentityPlan plan_identity(uid_t uid, gid_t gid, const std::string& home, std::string_view passwd_text,
                           std::string_view group_text);

// Reads <root>/etc/passwd and group, plans, overlays the files if needed.
Result<Identity> prepare_identity(const std::string& root, uid_t uid, gid_t gid, const std::string& home,
                                  FileOverlay& overlay);

}  // namespace awf::entrypoint
