// The command's /etc/resolv.conf: our nameserver list, never the host's file.
#pragma once

#include <string>
#include <vector>

#include "awf/entrypoint/overlay.h"
#include "awf/result.h"

namespace awf::entrypoint {

// "nameserver <ip>" per server, then "options ndots:0" (awf entrypoint.sh:
// names are looked up as given, no search-domain guesses leaking queries).
std::string render_resolv_conf(const std::vector<std::string>& servers);

// Places the rendered file at <root>/etc/resolv.conf through `overlay`. With
// no servers configured: a built view gets a copy of the host's file, a
// prepared root is left alone.
Status install_resolv_conf(const std::string& root, const std::vector<std::string>& servers, bool built_view,
                           FileOverlay& overlay);

}  // namespace awf::entrypoint
