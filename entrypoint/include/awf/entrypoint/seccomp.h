// The command's seccomp filter, equivalent to awf's agent profile.
#pragma once

#include <linux/filter.h>

#include <string>
#include <vector>

#include "awf/result.h"

namespace awf::entrypoint {

// System calls answered with EPERM for the command (and everything it runs).
const std::vector<std::string>& denied_syscalls();

// The filter as the BPF program libseccomp makes of it (what seccomp_load
// would load), compiled ahead: compiling takes a few ms, loading one call.
Result<std::vector<sock_filter>> compile_seccomp_filter();

// Loads a compiled filter into the calling thread (needs no_new_privs or
// CAP_SYS_ADMIN). Load it last: it also blocks calls our own setup makes.
Status load_seccomp_program(const std::vector<sock_filter>& program);

// compile_seccomp_filter, then load_seccomp_program.
Status load_seccomp_filter();

}  // namespace awf::entrypoint
