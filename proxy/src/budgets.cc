// Budgets per registrable domain; see budgets.h.
#include "awf/proxy/budgets.h"

#include <algorithm>
#include <cmath>
#include <functional>

namespace awf::proxy {

Budgets::Budgets(BudgetLimits limits, policy::PublicSuffixList psl) : limits_(limits), psl_(std::move(psl)) {}

std::string Budgets::key_of(std::string_view host) const {
  return psl_.registrable_domain(host).value_or(std::string(host));
}

Budgets::Shard& Budgets::shard_of(const std::string& key) {
  return shards_[std::hash<std::string>{}(key) % shards_.size()];
}

Budgets::Verdict Budgets::admit(const std::string& key, bool tunnel) {
  Shard& shard = shard_of(key);
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(shard.mutex);
  auto [it, fresh] = shard.accounts.try_emplace(key);
  Account& a = it->second;
  // The bucket holds one second's worth, and at least one request.
  const double capacity = std::max(1.0, limits_.requests_per_second);
  if (fresh) {
    a.tokens = capacity;  // a quiet domain starts with a full bucket
    a.refilled = now;
  }
  if (limits_.bytes > 0 && a.bytes >= limits_.bytes) return {.refused = "budget_bytes"};
  if (limits_.requests_per_second > 0) {
    // A token bucket, refilled at the rate.
    const double elapsed = std::chrono::duration<double>(now - a.refilled).count();
    a.tokens = std::min(capacity, a.tokens + elapsed * limits_.requests_per_second);
    a.refilled = now;
    if (a.tokens < 1) {
      const double wait = (1 - a.tokens) / limits_.requests_per_second;
      return {.refused = "budget_rps",
              .retry_after = std::chrono::seconds(std::max<long>(1, static_cast<long>(std::ceil(wait))))};
    }
  }
  if (tunnel && limits_.tunnels > 0 && a.tunnels >= limits_.tunnels) {
    return {.refused = "budget_tunnels", .retry_after = std::chrono::seconds(1)};
  }
  if (limits_.requests_per_second > 0) a.tokens -= 1;
  Verdict v;
  if (tunnel && limits_.tunnels > 0) {
    ++a.tunnels;
    // The lease gives the place back when the tunnel's session lets it go.
    v.tunnel = std::shared_ptr<void>(nullptr, [this, key](void*) { release_tunnel(key); });
  }
  return v;
}

void Budgets::release_tunnel(const std::string& key) {
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  auto it = shard.accounts.find(key);
  if (it != shard.accounts.end() && it->second.tunnels > 0) --it->second.tunnels;
}

void Budgets::spend_bytes(const std::string& key, std::uint64_t bytes) {
  if (limits_.bytes == 0 || bytes == 0) return;
  Shard& shard = shard_of(key);
  std::lock_guard lock(shard.mutex);
  shard.accounts[key].bytes += bytes;
}

}  // namespace awf::proxy
