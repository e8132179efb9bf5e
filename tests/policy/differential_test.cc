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
#include "ruleset_reference.h"

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
