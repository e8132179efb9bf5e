// The interception helpers' fd owner is the project-wide awf::UniqueFd.
#pragma once

#include "awf/unique_fd.h"

namespace awf::intercept {
using UniqueFd = ::awf::UniqueFd;
}  // namespace awf::intercept
