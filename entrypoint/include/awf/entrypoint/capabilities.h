// Giving up root: capability sets, securebits, no_new_privs and the switch
// to the command's user. Every step is mandatory; the first failure stops.
#pragma once

#include "awf/entrypoint/identity.h"
#include "awf/result.h"

namespace awf::entrypoint {

// Empties the bounding set (every capability, not only awf's dangerous list:
// nothing the command execs can ever regain one) and the ambient set, and
// locks the securebits that would let a root-owned binary regain them.
Status drop_bounding_and_ambient();

// setgroups, setresgid, setresuid (all three ids), then clears the
// effective, permitted and inheritable sets (setresuid(2) leaves the
// inheritable set alone).
Status switch_user(const Identity& identity);

// True in a user namespace whose setgroups file says "deny" (a rootless run):
// switch_user() then keeps the inherited supplementary groups.
bool setgroups_denied();

// PR_SET_NO_NEW_PRIVS: execve can no longer grant privileges (setuid bits,
// file capabilities); also lets us load seccomp without CAP_SYS_ADMIN.
Status set_no_new_privs();

}  // namespace awf::entrypoint
