// Resolves the command's user inside its root and synthesizes passwd/group
// entries when the host UID/GID is unknown there.
#include "awf/entrypoint/identity.h"

#include <algorithm>
#include <charconv>
#include <fmt/format.h>
#include <set>

#include "awf/entrypoint/log.h"

namespace awf::entrypoint {
namespace {

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  size_t start = 0;
  while (true) {
    size_t pos = s.find(sep, start);
    out.push_back(s.substr(start, pos == std::string_view::npos ? pos : pos - start));
    if (pos == std::string_view::npos) break;
    start = pos + 1;
  }
  return out;
}

bool to_id(std::string_view s, uint32_t& out) {
  if (s.empty()) return false;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
  return ec == std::errc() && end == s.data() + s.size();
}

template <typename F>
void for_each_line(std::string_view text, F f) {
  for (auto line : split(text, '\n')) {
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    f(line);
  }
}

std::string with_trailing_newline(std::string_view text) {
  std::string out(text);
  if (!out.empty() && out.back() != '\n') out.push_back('\n');
  return out;
}

}  // namespace

std::vector<PasswdEntry> parse_passwd(std::string_view text) {
  std::vector<PasswdEntry> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() != 7 || f[0].empty()) return;
    PasswdEntry e;
    uint32_t uid, gid;
    if (!to_id(f[2], uid) || !to_id(f[3], gid)) return;
    e.name = f[0];
    e.uid = uid;
    e.gid = gid;
    e.gecos = f[4];
    e.home = f[5];
    e.shell = f[6];
    out.push_back(std::move(e));
  });
  return out;
}

std::vector<GroupEntry> parse_group(std::string_view text) {
  std::vector<GroupEntry> out;
  for_each_line(text, [&](std::string_view line) {
    auto f = split(line, ':');
    if (f.size() != 4 || f[0].empty()) return;
    GroupEntry e;
    uint32_t gid;
    if (!to_id(f[2], gid)) return;
    e.name = f[0];
    e.gid = gid;
    for (auto m : split(f[3], ',')) {
      if (!m.empty()) e.members.emplace_back(m);
    }
    out.push_back(std::move(e));
  });
  return out;
}

IdentityPlan plan_identity(uid_t uid, gid_t gid, const std::string& home, std::string_view passwd_text,
                           std::string_view group_text) {
  IdentityPlan plan;
  Identity& id = plan.identity;
  id.uid = uid;
  id.gid = gid;
  const auto users = parse_passwd(passwd_text);
  const auto groups = parse_group(group_text);
  auto user_named = [&](const std::string& n) {
    return std::any_of(users.begin(), users.end(), [&](const PasswdEntry& e) { return e.name == n; });
  };
  auto group_named = [&](const std::string& n) {
    return std::any_of(groups.begin(), groups.end(), [&](const GroupEntry& e) { return e.name == n; });
  };
  auto free_name = [&](auto taken) {
    std::string name = "runner";
    if (!taken(name)) return name;
    name = fmt::format("runner-{}", uid);
    for (int n = 1; taken(name); ++n) name = fmt::format("runner-{}-{}", uid, n);
    return name;
  };

  auto user = std::find_if(users.begin(), users.end(), [&](const PasswdEntry& e) { return e.uid == uid; });
  if (user != users.end()) {
    id.name = user->name;
    id.home = home.empty() ? user->home : home;
  } else {
    id.name = free_name(user_named);
    id.home = home.empty() ? "/" : home;
    plan.passwd = with_trailing_newline(passwd_text) +
                  fmt::format("{}:x:{}:{}:awf sandbox user:{}:/bin/bash\n", id.name, uid, gid, id.home);
  }

  auto group = std::find_if(groups.begin(), groups.end(), [&](const GroupEntry& e) { return e.gid == gid; });
  if (group == groups.end()) {
    plan.group = with_trailing_newline(group_text) + fmt::format("{}:x:{}:\n", free_name(group_named), gid);
  }

  // initgroups(3) semantics: the primary group plus every group listing the
  // user as a member.
  std::set<gid_t> gids{gid};
  for (const auto& g : groups) {
    if (std::find(g.members.begin(), g.members.end(), id.name) != g.members.end()) gids.insert(g.gid);
  }
  gids.erase(0);  // never the root group, whatever the host file says
  id.groups.assign(gids.begin(), gids.end());
  return plan;
}

Result<Identity> prepare_identity(const std::string& root, uid_t uid, gid_t gid, const std::string& home,
                                  FileOverlay& overlay) {
  auto passwd = read_file_in_root(root, "/etc/passwd", true);
  if (!passwd) return passwd.error();
  auto group = read_file_in_root(root, "/etc/group", true);
  if (!group) return group.error();
  IdentityPlan plan = plan_identity(uid, gid, home, *passwd, *group);
  if (plan.passwd) {
    log_info(fmt::format("UID {} has no passwd entry in the sandbox: adding \"{}\"", uid, plan.identity.name));
    if (auto s = overlay.place(root, "/etc/passwd", *plan.passwd); !s) return s.error();
  }
  if (plan.group) {
    if (auto s = overlay.place(root, "/etc/group", *plan.group); !s) return s.error();
  }
  return plan.identity;
}

}  // namespace awf::entrypoint
