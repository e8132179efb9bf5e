// The compiled trie against a literal reading of awf's rules (Squid
// dstdomain suffix matching, one anchored case-insensitive regex per
// pattern) over random entry lists and hosts: every decision must agree.
#include <gtest/gtest.h>
#include <re2/re2.h>

#include <array>
#include <cctype>
#include <memory>
#include <string>
#include <vector>

#include "awf/policy/entry.h"
#include "awf/policy/ruleset.h"

namespace awf::policy {
namespace {

struct Random {
  std::uint64_t state;
  std::uint64_t next() {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    return state;
  }
  std::size_t below(std::size_t n) { return static_cast<std::size_t>(next() % n); }
};

const char* const kLabels[] = {"a", "b", "ab", "x_y", "c-d", "0a", "A", "bb"};

std::string random_name(Random& r, std::size_t max_labels) {
  std::string out;
  const std::size_t n = 1 + r.below(max_labels);
  for (std::size_t i = 0; i < n; ++i) {
    if (i) out += '.';
    out += kLabels[r.below(sizeof kLabels / sizeof *kLabels)];
  }
  return out;
}

std::string random_entry(Random& r) {
  std::string e = random_name(r, 3);
  switch (r.below(6)) {
    case 0: e = "*." + e; break;                               // pure star-dot
    case 1: e.insert(r.below(e.size() + 1), "*"); break;       // star anywhere
    case 2: e = "." + e; break;                                // leading dot
    default: break;                                            // plain
  }
  switch (r.below(8)) {
    case 0: e = "http://" + e; break;
    case 1: e = "https://" + e; break;
    default: break;
  }
  return e;
}

// awf's semantics, read literally.
struct Reference {
  struct Item {
    Scope scope;
    bool block;
    std::string plain;        // lower-case, leading dot removed; empty for patterns
    std::unique_ptr<RE2> re;  // patterns
  };
  std::vector<Item> items;

  Reference(const std::vector<std::string>& allow, const std::vector<std::string>& block) {
    auto add = [&](const std::string& raw, bool is_block) {
      auto e = parse_entry(raw);
      Item it;
      it.block = is_block;
      it.scope = e.ok() ? e->scope : Scope::both;
      if (!e.ok()) {
        items.push_back(std::move(it));  // keeps indices aligned; never matches
        return;
      }
      if (e->is_pattern) {
        std::string re;
        for (char c : e->domain) re += c == '*' ? std::string("[a-zA-Z0-9.-]*") : RE2::QuoteMeta(std::string(1, c));
        RE2::Options o;
        o.set_case_sensitive(false);
        it.re = std::make_unique<RE2>(re, o);
      } else {
        std::string d = e->domain;
        if (!d.empty() && d[0] == '.') d.erase(0, 1);
        for (char& c : d) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        it.plain = d;
      }
      items.push_back(std::move(it));
    };
    for (const auto& a : allow) add(a, false);
    for (const auto& b : block) add(b, true);
  }

  bool matches(const Item& it, const std::string& host) const {
    if (it.re) return RE2::FullMatch(host, *it.re);
    if (it.plain.empty()) return false;
    return host == it.plain || (host.size() > it.plain.size() && host.ends_with("." + it.plain));
  }

  // Mirrors ruleset.h's order for name hosts.
  Decision decide(const std::string& raw_host, bool is_connect, bool empty_allowlist) const {
    std::string host;
    for (char c : raw_host) host += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::int32_t block = -1, own = -1, both = -1, other = -1;
    const Scope own_scope = is_connect ? Scope::https : Scope::http;
    for (std::size_t i = 0; i < items.size(); ++i) {
      const Item& it = items[i];
      if (!matches(it, host)) continue;
      const auto idx = static_cast<std::int32_t>(i);
      auto first = [&](std::int32_t& slot) {
        if (slot < 0) slot = idx;
      };
      if (it.block) first(block);
      else if (it.scope == Scope::both) first(both);
      else if (it.scope == own_scope) first(own);
      else first(other);
    }
    if (block >= 0) return {false, Reason::blocklisted, block};
    if (own >= 0) return {true, Reason::allowed, own};
    if (both >= 0) return {true, Reason::allowed, both};
    if (other >= 0) return {false, Reason::scope_mismatch, other};
    return {false, empty_allowlist ? Reason::empty_allowlist : Reason::not_in_allowlist, -1};
  }
};

TEST(RulesetDifferential, TrieAgreesWithALiteralReadingOfAwf) {
  Random r{0x9E3779B97F4A7C15ull};
  int compared = 0;
  std::array<int, 8> by_reason{};
  for (int round = 0; round < 300; ++round) {
    PolicySpec spec;
    const std::size_t n_allow = r.below(12), n_block = r.below(4);
    for (std::size_t i = 0; i < n_allow; ++i) spec.allow.push_back(random_entry(r));
    for (std::size_t i = 0; i < n_block; ++i) spec.block.push_back(random_entry(r));
    auto compiled = Ruleset::compile(spec);
    if (!compiled.ok()) continue;  // a random entry awf refuses (e.g. `*.*.a`)
    const Reference ref(spec.allow, spec.block);
    for (int h = 0; h < 60; ++h) {
      const std::string host = random_name(r, 5);
      for (bool is_connect : {true, false}) {
        const Decision got = (*compiled)->decide(Request{host, 443, is_connect});
        const Decision want = ref.decide(host, is_connect, spec.allow.empty());
        ASSERT_EQ(got.allowed, want.allowed) << host << " connect=" << is_connect;
        ASSERT_EQ(got.reason, want.reason) << host << " connect=" << is_connect;
        ASSERT_EQ(got.rule, want.rule) << host << " connect=" << is_connect;
        ++compared;
        ++by_reason[static_cast<std::size_t>(got.reason)];
      }
    }
  }
  EXPECT_GT(compared, 10000);
  // The random lists really exercise every outcome, not only denials.
  for (Reason reason : {Reason::allowed, Reason::not_in_allowlist, Reason::empty_allowlist, Reason::blocklisted,
                        Reason::scope_mismatch}) {
    EXPECT_GT(by_reason[static_cast<std::size_t>(reason)], 100) << to_string(reason);
  }
}

}  // namespace
}  // namespace awf::policy
