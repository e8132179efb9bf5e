// awf's domain rules read literally (Squid dstdomain suffix matching, one
// anchored case-insensitive regex per pattern): the reference the compiled
// trie is checked against, by differential_test.cc over random lists and by
// the policy fuzz target over arbitrary ones. Only for hosts that are DNS
// names (see is_reference_host); IP literals and invalid hosts are decided
// before any entry is consulted.
#pragma once

#include <re2/re2.h>

#include <cctype>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "awf/policy/entry.h"
#include "awf/policy/host.h"
#include "awf/policy/ruleset.h"

namespace awf::policy {

// A host the reference can decide: dot-separated non-empty labels of
// [A-Za-z0-9_-], at most 253 bytes, not read as an IP address.
inline bool is_reference_host(std::string_view host) {
  if (host.empty() || host.size() > 253 || host.front() == '.' || host.back() == '.') return false;
  if (host.find("..") != std::string_view::npos) return false;
  for (char c : host) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  }
  return !is_ip_like(host);
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

}  // namespace awf::policy
