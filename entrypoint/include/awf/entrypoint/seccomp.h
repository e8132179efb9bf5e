// The command's seccomp filter, equivalent to awf's agent profile.
#pragma once

#include <string>
#include <vector>

#include "awf/result.h"

namespace awf::entrypoint {

// System calls answered with EPERM for the command (and everything it runs).
const std::vector<std::string>& denied_syscalls();

// Loads the filter into the calling thread (needs no_new_privs or
// CAP_SYS_ADMIN). Load it last: it also blocks calls our own setup makes.
Status load_seccomp_filter();

}  // namespace awf::entrypoint
