// Creating the agent's namespaces (clone(2) with CLONE_NEW*), the user
// namespace's ID maps when awf is not root, and the diagnostics for hosts
// where unprivileged user namespaces are switched off.
#pragma once

#include <sys/types.h>

#include <string>

#include "awf/result.h"
#include "awf/runtime/runtime.h"

namespace awf::runtime {

// Network, mount, PID, UTS and IPC; plus CLONE_NEWUSER when `user_namespace`.
int namespace_clone_flags(bool user_namespace);
bool wants_user_namespace(UserNamespaceMode mode);

// Fork-like clone(2) into new namespaces: returns 0 in the child (PID 1 of its
// new PID namespace), the child's pid in the parent. The child gets SIGCHLD
// as exit signal, so waitpid() works as for fork(). On failure the message
// names the flags and, for EPERM/ENOSPC/EINVAL around user namespaces, says
// which sysctl blocks them.
Result<pid_t> clone_into_namespaces(int flags);

// Parent half of the user namespace: maps `outer_uid`/`outer_gid` to the same
// numbers inside (one line each: all an unprivileged writer may map, see
// user_namespaces(7)), after denying setgroups(2) as the kernel requires for
// an unprivileged gid_map.
Status write_id_maps(pid_t child, uid_t outer_uid, gid_t outer_gid);

// Child half, once the maps exist: keeps every capability the user namespace
// gave the child across execve(2) as ambient capabilities, since the child's
// uid is not 0 inside and exec would otherwise clear them. The entrypoint
// needs them to mount and chroot; it drops them all before the command.
Status keep_capabilities_across_exec();

// Child half of the mount namespace: makes every mount private so nothing the
// entrypoint mounts propagates back to the host's namespace.
Status make_mounts_private();

// Why unprivileged user namespaces may be unavailable on this host, from
// /proc/sys (kernel.unprivileged_userns_clone, user.max_user_namespaces,
// kernel.apparmor_restrict_unprivileged_userns), with the command that fixes
// it; empty when nothing explains it.
std::string user_namespace_hint();

}  // namespace awf::runtime
