// Drops every capability and switches to the command's user (libcap + prctl).
#include "awf/entrypoint/capabilities.h"

#include <grp.h>
#include <linux/securebits.h>
#include <sys/capability.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cerrno>
#include <fmt/format.h>
#include <fstream>
#include <memory>
#include <string>

#include "awf/entrypoint/log.h"

namespace awf::entrypoint {

Status drop_bounding_and_ambient() {
  // cap_max_bits(): the running kernel's last capability, which may be newer
  // than the headers we were built with.
  const cap_value_t last = static_cast<cap_value_t>(cap_max_bits()) - 1;
  for (cap_value_t cap = 0; cap <= last; ++cap) {
    if (cap_drop_bound(cap) != 0 && errno != EINVAL) {
      char* name = cap_to_name(cap);
      std::string text = fmt::format("Dropping {} from the bounding set failed: {}", name ? name : "?",
                                     errno_text(errno));
      cap_free(name);
      return Error{text};
    }
  }
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0) {
    return Error{fmt::format("Clearing the ambient capability set failed: {}", errno_text(errno))};
  }
  // capabilities(7): NOROOT stops execve of root-owned/setuid-root programs
  // from granting capabilities; NO_CAP_AMBIENT_RAISE keeps the ambient set
  // empty; the LOCKED bits make both permanent for every descendant.
  const int bits = SECBIT_NOROOT | SECBIT_NOROOT_LOCKED | SECBIT_NO_CAP_AMBIENT_RAISE |
                   SECBIT_NO_CAP_AMBIENT_RAISE_LOCKED | SECBIT_KEEP_CAPS_LOCKED;
  if (prctl(PR_SET_SECUREBITS, bits, 0, 0, 0) != 0) {
    return Error{fmt::format("Setting securebits failed: {}", errno_text(errno))};
  }
  return ok_status();
}

// user_namespaces(7): in a user namespace created without privilege the
// launcher must write "deny" to /proc/PID/setgroups before it may map GIDs,
// and setgroups(2) then fails with EPERM for good. The supplementary groups
// are those awf was started with (seen as the overflow GID), so nothing can
// be gained by keeping them; skipping the call is the only way to run rootless.
bool setgroups_denied() {
  std::ifstream in("/proc/self/setgroups");
  std::string word;
  return in >> word && word == "deny";
}

Status switch_user(const Identity& id) {
  if (id.uid == 0 || id.gid == 0) return Error{"Refusing to run the command as root"};
  if (setgroups_denied()) {
    log_warn("setgroups is denied in this user namespace (rootless run); supplementary groups are left as inherited");
  } else if (setgroups(id.groups.size(), id.groups.data()) != 0) {
    return Error{fmt::format("setgroups({} groups) failed: {}", id.groups.size(), errno_text(errno))};
  }
  if (setresgid(id.gid, id.gid, id.gid) != 0) {
    return Error{fmt::format("setresgid({}) failed: {}", id.gid, errno_text(errno))};
  }
  if (setresuid(id.uid, id.uid, id.uid) != 0) {
    return Error{fmt::format("setresuid({}) failed: {}", id.uid, errno_text(errno))};
  }
  std::unique_ptr<std::remove_pointer_t<cap_t>, int (*)(void*)> caps(cap_init(), cap_free);
  if (!caps) return Error{fmt::format("cap_init failed: {}", errno_text(errno))};
  if (cap_set_proc(caps.get()) != 0) {
    return Error{fmt::format("Clearing the effective/permitted/inheritable sets failed: {}", errno_text(errno))};
  }
  return ok_status();
}

Status set_no_new_privs() {
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0) {
    return Error{fmt::format("prctl(PR_SET_NO_NEW_PRIVS) failed: {}", errno_text(errno))};
  }
  return ok_status();
}

}  // namespace awf::entrypoint
