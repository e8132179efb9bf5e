// Reads back /proc/self/status and checks that the process is as confined as
// we asked, before the command runs: a kernel or library that silently
// ignored a step must stop the run, not weaken it.
#pragma once

#include <string>
#include <string_view>

#include "awf/entrypoint/identity.h"
#include "awf/result.h"

namespace awf::entrypoint {

// CapInh/CapPrm/CapEff/CapBnd/CapAmb all zero, NoNewPrivs 1, Seccomp 2,
// Uid/Gid (real, effective, saved, fs) all the identity's, Groups as set.
Status check_confinement(std::string_view proc_status, const Identity& identity);

}  // namespace awf::entrypoint
