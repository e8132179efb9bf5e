// Budgets per registrable domain (--budget-rps, --budget-tunnels,
// --budget-bytes): what an agent may spend on one owner's names, however it
// spreads the work over their subdomains (a.evil.example, b.evil.example,
// ... are one budget: rotating names to exfiltrate buys nothing). Checked
// after the policy has allowed a request; shared by every I/O thread.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

#include "awf/policy/public_suffix.h"

namespace awf::proxy {

struct BudgetLimits {
  double requests_per_second = 0;  // 0: no limit; also the burst a quiet domain may spend at once (at least 1)
  std::size_t tunnels = 0;         // concurrent tunnels (CONNECT, transparent TLS, SOCKS, WebSocket); 0: no limit
  std::uint64_t bytes = 0;         // bytes per run, both directions; 0: no limit
  bool any() const { return requests_per_second > 0 || tunnels > 0 || bytes > 0; }
};

class Budgets {
 public:
  Budgets(BudgetLimits limits, policy::PublicSuffixList psl);

  // The budget a host counts against: its registrable domain, else itself.
  std::string key_of(std::string_view host) const;

  struct Verdict {
    // nullptr when admitted, else the budget spent: "budget_rps",
    // "budget_tunnels", "budget_bytes" (the reason code logged and sent).
    const char* refused = nullptr;
    std::chrono::seconds retry_after{0};  // budget_rps, budget_tunnels: when to try again
    // A tunnel's place in --budget-tunnels, given back when the last copy
    // goes; empty for plain requests.
    std::shared_ptr<void> tunnel{};
  };
  // One request, or one tunnel when `tunnel`, to `key` (from key_of).
  Verdict admit(const std::string& key, bool tunnel);
  // Bytes that went to or came from `key`'s names.
  void spend_bytes(const std::string& key, std::uint64_t bytes);

  const BudgetLimits& limits() const { return limits_; }

 private:
  struct Account {
    double tokens = 0;
    std::chrono::steady_clock::time_point refilled{};
    std::size_t tunnels = 0;
    std::uint64_t bytes = 0;
  };
  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, Account> accounts;
  };
  Shard& shard_of(const std::string& key);
  void release_tunnel(const std::string& key);

  BudgetLimits limits_;
  policy::PublicSuffixList psl_;
  std::array<Shard, 16> shards_;
};

}  // namespace awf::proxy
