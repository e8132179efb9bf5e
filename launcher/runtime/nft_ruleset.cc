// The agent namespace's nftables ruleset: text generation and its atomic
// application with libnftables (nft(8) syntax, one transaction).
#include "awf/runtime/nft_ruleset.h"

#include <nftables/libnftables.h>

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>
#include <string>

namespace awf::runtime {
namespace {

std::string trim(std::string_view s) {
  const auto first = s.find_first_not_of(" \t");
  if (first == std::string_view::npos) return {};
  const auto last = s.find_last_not_of(" \t");
  return std::string(s.substr(first, last - first + 1));
}

std::optional<std::uint16_t> parse_port(std::string_view text) {
  unsigned value = 0;
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (ec != std::errc{} || ptr != end || value == 0 || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

std::string port_set(const std::vector<PortRange>& ranges) {
  std::string out = "{ ";
  for (std::size_t i = 0; i < ranges.size(); ++i) {
    if (i) out += ", ";
    out += std::to_string(ranges[i].first);
    if (ranges[i].last != ranges[i].first) out += "-" + std::to_string(ranges[i].last);
  }
  return out + " }";
}

struct NftContextFree {
  void operator()(nft_ctx* ctx) const { nft_ctx_free(ctx); }
};
using NftContext = std::unique_ptr<nft_ctx, NftContextFree>;

Result<NftContext> new_context() {
  NftContext ctx(nft_ctx_new(NFT_CTX_DEFAULT));
  if (!ctx) return Error{"nftables: nft_ctx_new failed (out of memory?)"};
  // Keep libnftables' output and errors for our own message instead of
  // letting it print to stdout/stderr, which belong to the agent's command.
  if (nft_ctx_buffer_output(ctx.get()) != 0 || nft_ctx_buffer_error(ctx.get()) != 0) {
    return Error{"nftables: cannot buffer libnftables output"};
  }
  return ctx;
}

}  // namespace

Result<std::vector<PortRange>> parse_port_specs(std::string_view specs) {
  std::vector<PortRange> ranges;
  std::size_t start = 0;
  while (start <= specs.size()) {
    const std::size_t comma = std::min(specs.find(',', start), specs.size());
    const std::string item = trim(specs.substr(start, comma - start));
    start = comma + 1;
    if (item.empty()) continue;
    const std::size_t dash = item.find('-');
    const auto first = parse_port(std::string_view(item).substr(0, dash));
    const auto last = dash == std::string::npos ? first : parse_port(std::string_view(item).substr(dash + 1));
    if (!first || !last || *last < *first) {
      return Error{"--allow-host-ports: \"" + item + "\" is not a port (1-65535) or a range like 3000-3010"};
    }
    ranges.push_back({*first, *last});
  }
  // nft refuses overlapping intervals in one anonymous set: merge them.
  std::sort(ranges.begin(), ranges.end(), [](const PortRange& a, const PortRange& b) { return a.first < b.first; });
  std::vector<PortRange> merged;
  for (const PortRange& range : ranges) {
    if (!merged.empty() && range.first <= merged.back().last + 1) {
      merged.back().last = std::max(merged.back().last, range.last);
    } else {
      merged.push_back(range);
    }
  }
  return merged;
}

std::string render_ruleset(const RulesetSpec& spec, Ipv6 ipv6, Existing existing) {
  const ListenerPorts& p = spec.ports;
  const std::string http = std::to_string(p.http_intercept);
  const std::string tls = std::to_string(p.tls_intercept);
  const std::string dns = std::to_string(p.dns);

  std::string r;
  // "table" then "delete table": creating an empty table first makes the
  // delete succeed whether or not one existed, so the transaction is
  // re-runnable (nft 1.0.6 has no "destroy").
  if (existing == Existing::replace) {
    r += "table inet awf\n";
    r += "delete table inet awf\n";
  }
  r += "table inet awf {\n";
  // Locally generated packets pass the nat output hook before the filter one
  // (priority -100 < 0), so the filter chain sees the redirected port.
  r += "\tchain agent_nat {\n";
  r += "\t\ttype nat hook output priority -100; policy accept;\n";
  // No listener on ::1 to take it: nothing of IPv6 is redirected (the filter
  // chain rejects it all).
  if (ipv6 == Ipv6::refused) r += "\t\tmeta nfproto ipv6 return\n";
  // The agent's own localhost (127.0.0.1, ::1) is its own business, as in
  // awf: a dev server it starts there answers, and nothing to localhost is
  // redirected (the forward listener and the DNS listener in resolv.conf are
  // there too). The rest of 127.0.0.0/8 is treated like any other address.
  r += "\t\tip daddr 127.0.0.1 return\n";
  r += "\t\tip6 daddr ::1 return\n";
  // Any address: the transparent front ends decide on the Host header or SNI,
  // never on the address the agent picked.
  r += "\t\ttcp dport 80 redirect to :" + http + "\n";
  r += "\t\ttcp dport 443 redirect to :" + tls + "\n";
  if (!spec.host_ports.empty()) {
    r += "\t\ttcp dport " + port_set(spec.host_ports) + " redirect to :" + http + "\n";
  }
  // Every resolver the agent may try (resolv.conf, dig @server) lands on the
  // filtering DNS listener: DNS to anyone else is not a way out.
  r += "\t\tudp dport 53 redirect to :" + dns + "\n";
  r += "\t\ttcp dport 53 redirect to :" + dns + "\n";
  r += "\t}\n";
  r += "\tchain agent_filter {\n";
  r += "\t\ttype filter hook output priority 0; policy drop;\n";
  // First, ::1 included: a connect() fails at once (admin-prohibited), and
  // IPv6 switched on later in the namespace finds no way out.
  if (ipv6 == Ipv6::refused) r += "\t\tmeta nfproto ipv6 reject with icmpx admin-prohibited\n";
  // Replies of the proxy's listeners (which live in this namespace) and
  // ICMP errors about accepted flows.
  r += "\t\tct state established,related accept\n";
  // Only our nat chain translates, so this is exactly what it redirected.
  r += "\t\tct status dnat accept\n";
  // The interception listeners take only what was redirected to them (the
  // rule above): dialled directly they would see themselves as the
  // original destination.
  const std::string intercepts =
      p.http_intercept == p.tls_intercept ? http : "{ " + http + ", " + tls + " }";
  r += "\t\tip daddr 127.0.0.1 tcp dport " + intercepts + " reject with tcp reset\n";
  r += "\t\tip6 daddr ::1 tcp dport " + intercepts + " reject with tcp reset\n";
  // Localhost: the forward listener, the DNS listener, the agent's own servers.
  r += "\t\tip daddr 127.0.0.1 accept\n";
  r += "\t\tip6 daddr ::1 accept\n";
  // Everything else fails at once instead of timing out: a reset for TCP,
  // admin-prohibited (ICMP or ICMPv6) for UDP, ICMP and the rest, the other
  // loopback addresses included (other ports and protocols, and IPv6, are ways out too).
  r += "\t\tmeta l4proto tcp reject with tcp reset\n";
  r += "\t\treject with icmpx admin-prohibited\n";
  r += "\t}\n";
  r += "}\n";
  return r;
}

Status apply_ruleset(const std::string& ruleset) {
  auto ctx = new_context();
  if (!ctx) return ctx.error();
  // One buffer = one netlink batch = one transaction: a syntax or kernel
  // error leaves the namespace exactly as it was.
  if (nft_run_cmd_from_buffer(ctx->get(), ruleset.c_str()) != 0) {
    std::string detail = nft_ctx_get_error_buffer(ctx->get());
    while (!detail.empty() && detail.back() == '\n') detail.pop_back();
    return Error{"nftables: applying the agent ruleset failed: " + (detail.empty() ? "no detail" : detail)};
  }
  return ok_status();
}

Status remove_ruleset() {
  // As in render_ruleset: declaring the table first makes the delete succeed
  // whether or not it is there.
  return apply_ruleset(std::string("table inet ") + kRulesetTable + "\ndelete table inet " + kRulesetTable + "\n");
}

Result<bool> ruleset_present() {
  auto ctx = new_context();
  if (!ctx) return ctx.error();
  const std::string command = std::string("list tables inet");
  if (nft_run_cmd_from_buffer(ctx->get(), command.c_str()) != 0) {
    return Error{std::string("nftables: list tables failed: ") + nft_ctx_get_error_buffer(ctx->get())};
  }
  const std::string tables = nft_ctx_get_output_buffer(ctx->get());
  return tables.find(std::string("table inet ") + kRulesetTable + "\n") != std::string::npos;
}

Result<std::string> list_ruleset() {
  auto ctx = new_context();
  if (!ctx) return ctx.error();
  if (nft_run_cmd_from_buffer(ctx->get(), "list ruleset") != 0) {
    return Error{std::string("nftables: list ruleset failed: ") + nft_ctx_get_error_buffer(ctx->get())};
  }
  return std::string(nft_ctx_get_output_buffer(ctx->get()));
}

}  // namespace awf::runtime
