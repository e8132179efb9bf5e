// Compiling allow/block entries into a suffix trie over reversed labels (one
// open-addressing table of (parent node, label) edges, hashed by the whole
// suffix, short labels inline and long ones in a string pool) with RE2 sets
// for the wildcard patterns that are not a pure `*.` prefix, and deciding
// requests against it without allocating.
#include "awf/policy/ruleset.h"

#include <re2/re2.h>
#include <re2/set.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <limits>

#include "host_internal.h"

namespace awf::policy {

const char* to_string(Reason reason) {
  switch (reason) {
    case Reason::allowed: return "allowed";
    case Reason::not_in_allowlist: return "not_in_allowlist";
    case Reason::empty_allowlist: return "empty_allowlist";
    case Reason::blocklisted: return "blocklisted";
    case Reason::port_not_allowed: return "port_not_allowed";
    case Reason::ip_literal: return "ip_literal";
    case Reason::scope_mismatch: return "scope_mismatch";
    case Reason::invalid_host: return "invalid_host";
  }
  return "unknown";
}

namespace {

// The four ways an entry can match: the blocklist ignores scope, the
// allowlist keeps it.
enum Category : int { kBlock = 0, kAllowBoth = 1, kAllowHttp = 2, kAllowHttps = 3 };
constexpr int kCategories = 4;
constexpr std::int32_t kNone = std::numeric_limits<std::int32_t>::max();

// DNS names are at most 253 bytes (RFC 1035, without the trailing dot); one
// trailing dot is allowed before normalisation.
constexpr std::size_t kMaxHost = 254;

Category category_of(ListKind list, Scope scope) {
  if (list == ListKind::block) return kBlock;
  switch (scope) {
    case Scope::http: return kAllowHttp;
    case Scope::https: return kAllowHttps;
    case Scope::both: break;
  }
  return kAllowBoth;
}

// Lower-case host characters: what a request host may contain after
// normalisation. Anything else cannot be a DNS name.
bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '.' || c == '_';
}

char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

// True if `name` is a dot-separated run of non-empty labels of name chars.
bool is_label_sequence(std::string_view name) {
  if (name.empty() || name.front() == '.' || name.back() == '.') return false;
  if (name.find("..") != std::string_view::npos) return false;
  return std::all_of(name.begin(), name.end(), is_name_char);
}

// Hash of a suffix (`github.com`) chained from the hash of the suffix to its
// right (`com`), so every level's slot can be computed, and prefetched, from
// the host alone before the walk starts. The root's hash is 0.
inline std::uint32_t chain_hash(std::uint32_t suffix_hash, std::string_view label) {
  // Eight bytes per multiply: labels are short, and a byte-at-a-time hash
  // would be latency-bound on its multiply chain.
  constexpr std::uint64_t k = 0x9E3779B97F4A7C15ull;
  std::uint64_t h = (std::uint64_t{suffix_hash} << 8 | label.size()) * k;
  const char* p = label.data();
  std::size_t n = label.size();
  while (n >= 8) {
    std::uint64_t w;
    std::memcpy(&w, p, 8);
    h = (h ^ w) * k;
    h ^= h >> 29;
    p += 8;
    n -= 8;
  }
  if (n > 0) {
    std::uint64_t w = 0;
    for (std::size_t i = 0; i < n; ++i) w |= std::uint64_t{static_cast<unsigned char>(p[i])} << (8 * i);
    h = (h ^ w) * k;
    h ^= h >> 29;
  }
  h *= 0xBF58476D1CE4E5B9ull;
  return static_cast<std::uint32_t>(h >> 32);
}

// Allowlisted/blocklisted IPv4 literals, kept sorted by address.
struct IpRule {
  std::uint32_t address;
  Category category;
  std::int32_t rule;
};

std::uint32_t v4_value(const std::array<std::uint8_t, 4>& b) {
  return (std::uint32_t{b[0]} << 24) | (std::uint32_t{b[1]} << 16) | (std::uint32_t{b[2]} << 8) |
         std::uint32_t{b[3]};
}

// awf's raw-IPv4 entry test, `^[0-9]+\.[0-9]+\.[0-9]+\.[0-9]+$`, read as four
// decimal octets (Squid's `dst` would refuse anything above 255).
bool parse_ipv4_entry(std::string_view d, std::uint32_t& out) {
  std::uint32_t value = 0;
  int parts = 0;
  std::size_t i = 0;
  while (parts < 4) {
    std::size_t start = i;
    std::uint32_t octet = 0;
    while (i < d.size() && d[i] >= '0' && d[i] <= '9') {
      octet = octet * 10 + static_cast<std::uint32_t>(d[i] - '0');
      if (octet > 255) return false;
      ++i;
    }
    if (i == start) return false;
    value = (value << 8) | octet;
    ++parts;
    if (parts < 4) {
      if (i >= d.size() || d[i] != '.') return false;
      ++i;
    }
  }
  if (i != d.size()) return false;
  out = value;
  return true;
}

// A request host after one pass: lower-cased into a stack buffer, one
// trailing dot dropped, labels located, and the facts decide() needs.
struct ScannedHost {
  static constexpr int kMaxLabels = 128;  // 254 bytes hold at most 127 labels
  char buf[kMaxHost + 2];
  std::size_t size = 0;
  std::array<std::uint16_t, kMaxLabels> start;  // offset of each label (first `labels` set)
  int labels = 0;
  // Offset of the first '_' (a name character the `*` class lacks), or the
  // host's size when there is none.
  std::size_t first_underscore = 0;
  bool has_bad_char = false;     // outside [a-z0-9._-]
  bool has_empty_label = false;  // leading dot, `..`
  bool may_be_ip = false;        // brackets, colon, or a last label opening with a digit

  std::string_view name() const { return {buf, size}; }
  std::string_view label(int k) const {
    const std::size_t from = start[static_cast<std::size_t>(k)];
    const std::size_t to = k + 1 < labels ? start[static_cast<std::size_t>(k) + 1] - 1 : size;
    return {buf + from, to - from};
  }
  bool is_valid_name() const { return !has_bad_char && !has_empty_label && size > 0; }

  // False when the host is empty or longer than any DNS name.
  bool scan(std::string_view host) {
    if (host.empty() || host.size() > kMaxHost + 1) return false;
    size = host.size();
    if (host[size - 1] == '.') --size;
    if (size == 0) return false;
    first_underscore = size;
    labels = 1;
    start[0] = 0;
    for (std::size_t i = 0; i < size; ++i) {
      const char c = lower(host[i]);
      buf[i] = c;
      if (c == '.') {
        if (i == start[static_cast<std::size_t>(labels) - 1]) has_empty_label = true;
        if (labels == kMaxLabels) {
          has_empty_label = true;  // only reachable with empty labels; refuse, keep copying
        } else {
          start[static_cast<std::size_t>(labels++)] = static_cast<std::uint16_t>(i + 1);
        }
      } else if (!is_name_char(c)) {
        has_bad_char = true;
        if (c == ':' || c == '[') may_be_ip = true;
      } else if (c == '_' && first_underscore == size) {
        first_underscore = i;
      }
    }
    const std::size_t last = start[static_cast<std::size_t>(labels) - 1];
    if (last >= size) has_empty_label = true;
    else if (buf[last] >= '0' && buf[last] <= '9') may_be_ip = true;
    return true;
  }
};

}  // namespace

// The flattened trie. Node 0 is the root (the empty suffix). Each slot of one
// open-addressing table is an edge (parent, label) -> child, keyed by the hash
// of the child's whole suffix; it carries the child's rules (an index into
// `payloads`) and whether the child has children, so a lookup touches one
// 32-byte slot per label and stops at leaves.
struct Ruleset::Compiled {
  static constexpr std::size_t kInlineLabel = 12;
  struct alignas(32) Slot {
    std::uint32_t hash = 0;
    std::uint32_t parent = 0;
    std::uint32_t child = 0;     // 0 = empty slot (the root is nobody's child)
    std::int32_t payload = -1;   // index into payloads, -1 when no rule ends here
    std::uint16_t label_size = 0;
    std::uint16_t has_children = 0;
    char label[kInlineLabel] = {};  // the label, or its offset in `pool` when longer
  };
  static_assert(sizeof(Slot) == 32);

  struct Payload {
    std::array<std::int32_t, kCategories> plain;  // entry `d`: d and all subdomains
    std::array<std::int32_t, kCategories> star;   // entry `*.d`: strict subdomains
    std::int32_t regex_set = -1;                  // other patterns anchored here
  };
  struct Member {
    Category category;
    std::int32_t rule;
  };
  // RE2::Set allocates its list of matches on every call that asks which
  // members matched, so small sets also keep each pattern alone: the set
  // answers "any?" without allocating, the singles say which.
  static constexpr std::size_t kSmallSet = 8;
  struct RegexSet {
    std::unique_ptr<RE2::Set> set;
    std::vector<Member> members;               // by the index RE2::Set::Add returned
    std::vector<std::unique_ptr<RE2>> singles;  // one per member, for small sets only
    // `set` is null when there is a single member.
  };

  std::vector<Slot> slots;
  std::uint32_t mask = 0;
  std::uint32_t node_count = 1;
  std::string pool;  // labels longer than kInlineLabel
  std::int32_t root_payload = -1;
  std::vector<Payload> payloads;
  std::vector<RegexSet> regex_sets;
  std::vector<IpRule> ip_rules;
  // Build-time only: a node's payload and the hash of its suffix.
  std::vector<std::int32_t> node_payload{-1};
  std::vector<std::uint32_t> node_hash{0};

  // Per-category best (lowest) rule index found for a host.
  using Matches = std::array<std::int32_t, kCategories>;

  bool label_equals(const Slot& s, std::string_view label) const {
    if (s.label_size != label.size()) return false;
    if (label.size() <= kInlineLabel) return std::memcmp(s.label, label.data(), label.size()) == 0;
    std::uint32_t offset;
    std::memcpy(&offset, s.label, sizeof offset);
    return std::memcmp(pool.data() + offset, label.data(), label.size()) == 0;
  }

  const Slot* find(std::uint32_t hash, std::uint32_t parent, std::string_view label) const {
    if (slots.empty()) return nullptr;
    for (std::uint32_t i = hash & mask;; i = (i + 1) & mask) {
      const Slot& s = slots[i];
      if (s.child == 0) return nullptr;
      if (s.hash == hash && s.parent == parent && label_equals(s, label)) return &s;
    }
  }

  void grow() {
    std::vector<Slot> old = std::move(slots);
    const std::size_t size = old.empty() ? 1024 : old.size() * 2;
    slots.assign(size, Slot{});
    mask = static_cast<std::uint32_t>(size - 1);
    for (const Slot& s : old) {
      if (s.child == 0) continue;
      std::uint32_t i = s.hash & mask;
      while (slots[i].child != 0) i = (i + 1) & mask;
      slots[i] = s;
    }
  }

  std::uint32_t add_child(std::uint32_t parent, std::string_view label) {
    const std::uint32_t h = chain_hash(node_hash[parent], label);
    if (const Slot* found = find(h, parent, label)) return found->child;
    // Keep the load at or under one half so misses stop after a probe or two.
    if ((node_count + 1) * 2 > slots.size()) grow();
    std::uint32_t i = h & mask;
    while (slots[i].child != 0) i = (i + 1) & mask;
    Slot& s = slots[i];
    s.hash = h;
    s.parent = parent;
    s.child = node_count++;
    s.label_size = static_cast<std::uint16_t>(label.size());
    if (label.size() <= kInlineLabel) {
      std::memcpy(s.label, label.data(), label.size());
    } else {
      const auto offset = static_cast<std::uint32_t>(pool.size());
      std::memcpy(s.label, &offset, sizeof offset);
      pool.append(label);
    }
    node_payload.push_back(-1);
    node_hash.push_back(h);
    return s.child;
  }

  // Walks `name` (lower-case labels) from its last label; returns the node of
  // the whole name.
  std::uint32_t add_path(std::string_view name) {
    std::uint32_t node = 0;
    std::size_t end = name.size();
    while (end > 0) {
      const auto dot = name.rfind('.', end - 1);
      const std::size_t start = dot == std::string_view::npos ? 0 : dot + 1;
      node = add_child(node, name.substr(start, end - start));
      end = dot == std::string_view::npos ? 0 : dot;
    }
    return node;
  }

  Payload& payload_of(std::uint32_t node) {
    if (node_payload[node] < 0) {
      node_payload[node] = static_cast<std::int32_t>(payloads.size());
      Payload p;
      p.plain.fill(kNone);
      p.star.fill(kNone);
      payloads.push_back(p);
    }
    return payloads[static_cast<std::size_t>(node_payload[node])];
  }

  // After building: copies payloads and the has-children bit into the slots
  // and drops the build-time arrays.
  void flatten() {
    std::vector<std::uint32_t> node_slot(node_count, 0);
    for (std::uint32_t i = 0; i < slots.size(); ++i) {
      if (slots[i].child != 0) node_slot[slots[i].child] = i;
    }
    for (Slot& s : slots) {
      if (s.child == 0) continue;
      s.payload = node_payload[s.child];
      if (s.parent != 0) slots[node_slot[s.parent]].has_children = 1;
    }
    root_payload = node_payload[0];
    std::vector<std::int32_t>().swap(node_payload);
    std::vector<std::uint32_t>().swap(node_hash);
    pool.shrink_to_fit();
    payloads.shrink_to_fit();
  }

  void match_regexes(std::int32_t set_index, std::string_view host, Matches& best) const {
    const RegexSet& rs = regex_sets[static_cast<std::size_t>(set_index)];
    if (rs.singles.size() == 1) {  // the common case: one pattern at this node
      const Member& m = rs.members[0];
      if (m.rule < best[m.category] && RE2::FullMatch(host, *rs.singles[0])) best[m.category] = m.rule;
      return;
    }
    RE2::Set::ErrorInfo error{};
    if (!rs.set->Match(host, nullptr, &error)) {
      // The DFA ran out of memory: no allow entry may match, and every block
      // entry of the set counts as matched, so a failure never opens a path.
      if (error.kind != RE2::Set::kNoError) {
        for (const Member& m : rs.members) {
          if (m.category == kBlock) best[kBlock] = std::min(best[kBlock], m.rule);
        }
      }
      return;
    }
    if (!rs.singles.empty()) {
      for (std::size_t i = 0; i < rs.members.size(); ++i) {
        const Member& m = rs.members[i];
        if (m.rule < best[m.category] && RE2::FullMatch(host, *rs.singles[i])) best[m.category] = m.rule;
      }
      return;
    }
    // A large set that matched: ask which members did (this allocates).
    std::vector<int> hits;
    if (!rs.set->Match(host, &hits, &error)) {
      for (const Member& m : rs.members) {
        if (m.category == kBlock) best[kBlock] = std::min(best[kBlock], m.rule);
      }
      return;
    }
    for (int h : hits) {
      const Member& m = rs.members[static_cast<std::size_t>(h)];
      best[m.category] = std::min(best[m.category], m.rule);
    }
  }

  // Rules found while walking a host's labels from the right; `host` is a
  // scanned, valid name (see ScannedHost). Fills the lowest matching rule
  // index per category.
  void match(const ScannedHost& host, Matches& best) const {
    best.fill(kNone);
    const std::string_view name = host.name();
    if (root_payload >= 0) {
      const Payload& p = payloads[static_cast<std::size_t>(root_payload)];
      if (p.regex_set >= 0) match_regexes(p.regex_set, name, best);
    }
    if (slots.empty()) return;
    // Every level's slot depends only on the host, so hashes run a few
    // levels ahead of the walk and their slots are prefetched: the cache
    // misses of one lookup overlap instead of queueing.
    constexpr int kAhead = 3;
    std::array<std::uint32_t, ScannedHost::kMaxLabels> hashes;
    std::uint32_t h = 0;
    int hashed = host.labels;  // labels [hashed, labels) have hashes
    auto hash_next = [&] {
      --hashed;
      h = chain_hash(h, host.label(hashed));
      hashes[static_cast<std::size_t>(hashed)] = h;
      __builtin_prefetch(&slots[h & mask]);
    };
    for (int i = 0; i < kAhead && hashed > 0; ++i) hash_next();
    std::uint32_t node = 0;
    for (int k = host.labels - 1; k >= 0; --k) {
      if (hashed > 0 && hashed > k - kAhead) hash_next();
      const std::string_view label = host.label(k);
      const Slot* s = find(hashes[static_cast<std::size_t>(k)], node, label);
      if (s == nullptr) return;
      node = s->child;
      if (s->payload >= 0) {
        const Payload& p = payloads[static_cast<std::size_t>(s->payload)];
        for (int c = 0; c < kCategories; ++c) best[c] = std::min(best[c], p.plain[c]);
        // `*.d` is `^[a-z0-9.-]*\.d$`: the prefix before `.d` must be
        // non-empty (a label is left) and hold no '_'.
        const std::size_t start = host.start[static_cast<std::size_t>(k)];
        if (k > 0 && host.first_underscore + 1 >= start) {
          for (int c = 0; c < kCategories; ++c) best[c] = std::min(best[c], p.star[c]);
        }
        if (p.regex_set >= 0) match_regexes(p.regex_set, name, best);
      }
      if (!s->has_children) return;
    }
  }
};

Ruleset::Ruleset() = default;
Ruleset::~Ruleset() = default;

namespace {

// `*` is `[A-Za-z0-9.-]*` in awf; hosts are lower-cased before matching, so
// the lower-case class suffices.
std::string pattern_to_regex(std::string_view pattern) {
  std::string re;
  for (char c : pattern) {
    if (c == '*') re += "[a-z0-9.-]*";
    else re += RE2::QuoteMeta(std::string_view(&c, 1));
  }
  return re;
}

struct PendingRegex {
  std::uint32_t node;
  Category category;
  std::int32_t rule;
  std::string regex;
};

}  // namespace

Result<std::shared_ptr<const Ruleset>> Ruleset::compile(const PolicySpec& spec,
                                                        std::vector<std::string>* warnings) {
  std::shared_ptr<Ruleset> rs(new Ruleset());
  rs->compiled_ = std::make_unique<Compiled>();
  Compiled& c = *rs->compiled_;
  for (const PortRange& r : spec.extra_ports) rs->extra_ports_.push_back(r);
  rs->allow_count_ = spec.allow.size();
  rs->rules_.reserve(spec.allow.size() + spec.block.size());

  std::vector<PendingRegex> pending;
  auto add = [&](const std::string& raw, ListKind list) -> Status {
    auto parsed = parse_entry(raw);
    if (!parsed) {
      return Error{std::string(list == ListKind::allow ? "Invalid domain or pattern: "
                                                       : "Invalid blocked domain or pattern: ") +
                   parsed.message()};
    }
    const Entry& e = *parsed;
    if (warnings) {
      for (auto& w : entry_warnings(e)) {
        warnings->push_back(std::string(list == ListKind::allow ? "allow-domains: " : "block-domains: ") + w);
      }
    }
    const auto index = static_cast<std::int32_t>(rs->rules_.size());
    Rule rule;
    std::string_view trimmed = raw;
    while (!trimmed.empty() && std::strchr(" \t\r\n\v\f", trimmed.front())) trimmed.remove_prefix(1);
    while (!trimmed.empty() && std::strchr(" \t\r\n\v\f", trimmed.back())) trimmed.remove_suffix(1);
    rule.text = std::string(trimmed);
    rule.list = list;
    rule.scope = list == ListKind::block ? Scope::both : e.scope;
    rs->rules_.push_back(rule);
    const Category cat = category_of(list, e.scope);

    std::string d;
    d.reserve(e.domain.size());
    for (char ch : e.domain) d += lower(ch);

    if (!e.is_pattern) {
      std::uint32_t v4 = 0;
      if (parse_ipv4_entry(d, v4)) {
        c.ip_rules.push_back(IpRule{v4, cat, index});
        return ok_status();
      }
      std::string_view name = d;
      if (name.starts_with('.')) name.remove_prefix(1);  // `.github.com` is `github.com`
      // Ports, paths, unicode, a trailing dot: awf emits them verbatim and they
      // never match a request host, so they stay out of the trie (inert).
      if (!is_label_sequence(name) || name.size() > kMaxHost) return ok_status();
      Compiled::Payload& p = c.payload_of(c.add_path(name));
      p.plain[cat] = std::min(p.plain[cat], index);
      return ok_status();
    }
    // A pattern can match only if its literal characters are name characters.
    for (char ch : d) {
      if (ch != '*' && !is_name_char(ch)) return ok_status();
    }
    const std::string_view pd = d;
    if (pd.starts_with("*.") && pd.find('*', 1) == std::string_view::npos) {
      const std::string_view suffix = pd.substr(2);
      if (!is_label_sequence(suffix)) return ok_status();
      Compiled::Payload& p = c.payload_of(c.add_path(suffix));
      p.star[cat] = std::min(p.star[cat], index);
      return ok_status();
    }
    // Anchor the regex at the labels after the last '*' that it cannot
    // change: `api-*.example.com` at `example.com`, `*-cdn.example.com` at
    // `example.com`, `github.*` at the root.
    std::string_view tail = pd.substr(pd.rfind('*') + 1);
    if (tail.starts_with('.')) {
      tail.remove_prefix(1);
    } else {
      const auto dot = tail.find('.');
      tail = dot == std::string_view::npos ? std::string_view() : tail.substr(dot + 1);
    }
    std::uint32_t node = 0;
    if (!tail.empty()) {
      if (!is_label_sequence(tail)) return ok_status();
      node = c.add_path(tail);
    }
    pending.push_back(PendingRegex{node, cat, index, pattern_to_regex(pd)});
    return ok_status();
  };

  for (const auto& raw : spec.allow) {
    if (auto st = add(raw, ListKind::allow); !st) return st.error();
  }
  for (const auto& raw : spec.block) {
    if (auto st = add(raw, ListKind::block); !st) return st.error();
  }

  // The patterns anchored at one node: one RE2 alone when there is a single
  // pattern (the usual case), else an RE2::Set (plus singles when small).
  std::stable_sort(pending.begin(), pending.end(),
                   [](const PendingRegex& a, const PendingRegex& b) { return a.node < b.node; });
  RE2::Options options;
  options.set_log_errors(false);
  options.set_case_sensitive(true);  // hosts and patterns are both lower-cased
  auto cannot_compile = [&](const PendingRegex& p, const std::string& why) {
    return Error{"Invalid domain or pattern: cannot compile '" +
                 rs->rules_[static_cast<std::size_t>(p.rule)].text + "': " + why};
  };
  for (std::size_t i = 0; i < pending.size();) {
    const std::uint32_t node = pending[i].node;
    std::size_t end = i;
    while (end < pending.size() && pending[end].node == node) ++end;
    Compiled::RegexSet set;
    for (std::size_t k = i; k < end; ++k) {
      set.members.push_back(Compiled::Member{pending[k].category, pending[k].rule});
    }
    if (end - i > 1) {
      set.set = std::make_unique<RE2::Set>(options, RE2::ANCHOR_BOTH);
      for (std::size_t k = i; k < end; ++k) {
        std::string error;
        if (set.set->Add(pending[k].regex, &error) < 0) return cannot_compile(pending[k], error);
      }
      if (!set.set->Compile()) {
        return Error{"Invalid domain or pattern: the wildcard patterns need more memory than RE2 allows"};
      }
    }
    if (end - i <= Compiled::kSmallSet) {
      for (std::size_t k = i; k < end; ++k) {
        set.singles.push_back(std::make_unique<RE2>(pending[k].regex, options));
        if (!set.singles.back()->ok()) return cannot_compile(pending[k], set.singles.back()->error());
      }
    }
    c.payload_of(node).regex_set = static_cast<std::int32_t>(c.regex_sets.size());
    c.regex_sets.push_back(std::move(set));
    i = end;
  }
  std::sort(c.ip_rules.begin(), c.ip_rules.end(), [](const IpRule& a, const IpRule& b) {
    return a.address != b.address ? a.address < b.address : a.rule < b.rule;
  });
  c.flatten();
  return std::shared_ptr<const Ruleset>(std::move(rs));
}

bool Ruleset::allows_port(std::uint16_t port) const {
  if (port == 80 || port == 443) return true;
  return std::any_of(extra_ports_.begin(), extra_ports_.end(),
                     [port](const PortRange& r) { return r.contains(port); });
}

namespace {

// Picks the decision from the per-category matches, in ruleset.h's order
// (steps 4-8).
Decision decide_from(const std::array<std::int32_t, kCategories>& best, bool is_connect,
                     bool empty_allowlist) {
  const Category own = is_connect ? kAllowHttps : kAllowHttp;
  const Category other = is_connect ? kAllowHttp : kAllowHttps;
  if (best[kBlock] != kNone) return {false, Reason::blocklisted, best[kBlock]};
  if (best[own] != kNone) return {true, Reason::allowed, best[own]};
  if (best[kAllowBoth] != kNone) return {true, Reason::allowed, best[kAllowBoth]};
  if (best[other] != kNone) return {false, Reason::scope_mismatch, best[other]};
  return {false, empty_allowlist ? Reason::empty_allowlist : Reason::not_in_allowlist, -1};
}

}  // namespace

Decision Ruleset::decide(const Request& request) const {
  ScannedHost host;
  if (!host.scan(request.host)) return {false, Reason::invalid_host, -1};
  if (!allows_port(request.port)) return {false, Reason::port_not_allowed, -1};

  const Compiled& c = *compiled_;
  if (host.may_be_ip) {
    detail::RawIp ip;
    switch (detail::classify_ip(host.name(), ip)) {
      case detail::IpClass::name: break;
      case detail::IpClass::malformed: return {false, Reason::ip_literal, -1};
      case detail::IpClass::v4:
      case detail::IpClass::v6: {
        // Only the address itself or forms that reach exactly it
        // (v4-mapped, v4-compatible, NAT64) count as that IPv4; a 6to4
        // prefix names a whole network, so an IPv4 entry never allows it.
        const bool has_v4 =
            !ip.is_v6 || (ip.has_embedded_v4 && ip.embedding != detail::Embedding::six_to_four);
        if (!has_v4 || c.ip_rules.empty()) return {false, Reason::ip_literal, -1};
        const std::uint32_t addr = v4_value(ip.v4);
        std::array<std::int32_t, kCategories> best;
        best.fill(kNone);
        auto it = std::lower_bound(c.ip_rules.begin(), c.ip_rules.end(), addr,
                                   [](const IpRule& r, std::uint32_t a) { return r.address < a; });
        for (; it != c.ip_rules.end() && it->address == addr; ++it) {
          best[it->category] = std::min(best[it->category], it->rule);
        }
        Decision d = decide_from(best, request.is_connect, empty_allowlist());
        if (!d.allowed && d.reason != Reason::blocklisted && d.reason != Reason::scope_mismatch) {
          return {false, Reason::ip_literal, -1};
        }
        return d;
      }
    }
  }
  if (!host.is_valid_name()) return {false, Reason::invalid_host, -1};
  std::array<std::int32_t, kCategories> best;
  c.match(host, best);
  return decide_from(best, request.is_connect, empty_allowlist());
}

bool Ruleset::allows_name(std::string_view name) const {
  ScannedHost host;
  if (!host.scan(name) || !host.is_valid_name()) return false;
  if (host.may_be_ip) {
    detail::RawIp ip;
    if (detail::classify_ip(host.name(), ip) != detail::IpClass::name) return false;
  }
  std::array<std::int32_t, kCategories> best;
  compiled_->match(host, best);
  if (best[kBlock] != kNone) return false;
  return best[kAllowBoth] != kNone || best[kAllowHttp] != kNone || best[kAllowHttps] != kNone;
}

}  // namespace awf::policy
