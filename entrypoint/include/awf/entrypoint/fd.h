// The entrypoint's fd owner is the project-wide awf::UniqueFd.
#pragma once

#include "awf/unique_fd.h"

namespace awf::entrypoint {
using UniqueFd = ::awf::UniqueFd;
}  // namespace awf::entrypoint
