// A fresh procfs for the command's root, and a read-only cgroup view.
#pragma once

#include <string>

#include "awf/result.h"

namespace awf::entrypoint {

// proc at <root>/proc with nosuid,nodev,noexec,hidepid=2 (awf entrypoint.sh):
// Java and .NET resolve /proc/self/exe; hidepid=2 keeps the user from reading
// PID 1's environment, which still holds the tokens. Mandatory.
Status mount_procfs(const std::string& root);

// /sys/fs/cgroup read-only at <root>/sys/fs/cgroup. Best effort as in awf:
// skipped with a warning when it cannot be mounted, but a writable cgroup
// mount that cannot be removed is fatal.
Status mount_cgroup_readonly(const std::string& root);

}  // namespace awf::entrypoint
