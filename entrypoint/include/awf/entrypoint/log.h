// The entrypoint's own messages: one line each on stderr, prefixed as awf's
// entrypoint.sh prefixes them, so log scrapers written for awf keep working.
// stderr only: the command's stdout stays clean (awf's AWF_COMMAND_STDOUT_ONLY
// contract holds without moving file descriptors around).
#pragma once

#include "awf/errno_text.h"

#include <string>
#include <string_view>

namespace awf::entrypoint {

void set_quiet(bool quiet);
void log_info(std::string_view message);   // "[entrypoint] ..."; silenced by --quiet
void log_warn(std::string_view message);   // "[entrypoint][WARN] ..."
void log_error(std::string_view message);  // "[entrypoint][ERROR] ...", one line per message line

// errno_text(err) for messages: awf/errno_text.h.

}  // namespace awf::entrypoint
