// Benchmarks of the compiled ruleset against two obvious alternatives (a
// linear scan over the entries and one big RE2 alternation), so the numbers
// in the report compare like with like on the same generated rules.
#include <benchmark/benchmark.h>
#include <re2/re2.h>

#include <memory>
#include <string>
#include <vector>

#include "awf/policy/ruleset.h"

namespace {

using awf::policy::PolicySpec;
using awf::policy::Request;
using awf::policy::Ruleset;

const char* const kTlds[] = {"com", "net", "org", "io", "dev"};

// Rule i: 80% plain names, 15% `*.` patterns, 5% inner-star patterns (the
// ones that need RE2), spread over 1000 second-level domains per TLD.
std::string rule_text(int i) {
  const std::string tld = kTlds[i % 5];
  const int kind = i % 20;
  if (kind < 16) return "svc" + std::to_string(i) + ".dom" + std::to_string(i % 1000) + "." + tld;
  if (kind < 19) return "*.cdn" + std::to_string(i) + "." + tld;
  return "api-*.zone" + std::to_string(i) + "." + tld;
}

std::string hit_host(int i) {
  const std::string tld = kTlds[i % 5];
  const int kind = i % 20;
  if (kind < 16) return "www.svc" + std::to_string(i) + ".dom" + std::to_string(i % 1000) + "." + tld;
  if (kind < 19) return "img.cdn" + std::to_string(i) + "." + tld;
  return "api-v2.zone" + std::to_string(i) + "." + tld;
}

std::string miss_host(int i) {
  // Shares the rules' upper labels, so the trie walk goes two levels deep
  // before it misses.
  return "www.nohost" + std::to_string(i) + ".dom" + std::to_string(i % 1000) + "." + kTlds[i % 5];
}

std::string deep_host(int i) {
  const int plain = (i / 20) * 20 + (i % 16);  // a plain rule index
  return "a.b.c.d.e.f.g.h.svc" + std::to_string(plain) + ".dom" + std::to_string(plain % 1000) + "." +
         kTlds[plain % 5];
}

PolicySpec make_spec(int n) {
  PolicySpec spec;
  spec.allow.reserve(static_cast<std::size_t>(n));
  for (int i = 0; i < n; ++i) spec.allow.push_back(rule_text(i));
  return spec;
}

std::vector<std::string> make_hosts(int n, std::string (*gen)(int)) {
  std::vector<std::string> hosts;
  for (int k = 0; k < 1024; ++k) {
    const int i = static_cast<int>((static_cast<long long>(k) * 7919) % n);
    hosts.push_back(gen(i));
  }
  return hosts;
}

// --- the three matchers -----------------------------------------------------

struct TrieMatcher {
  std::shared_ptr<const Ruleset> rs;
  explicit TrieMatcher(const PolicySpec& spec) {
    auto r = Ruleset::compile(spec);
    if (r.ok()) rs = *r;
  }
  bool ok() const { return rs != nullptr; }
  bool allows(const std::string& host) const { return rs->decide(Request{host, 443, true}).allowed; }
};

// What a first implementation would do: every entry checked in turn, plain
// entries by suffix, `*.` entries by suffix plus the alphabet check, the rest
// with one RE2 each.
struct LinearMatcher {
  struct Item {
    std::string suffix;  // plain: ".d"; star: ".d"
    bool star = false;
    std::unique_ptr<RE2> re;
  };
  std::vector<Item> items;
  explicit LinearMatcher(const PolicySpec& spec) {
    for (const auto& e : spec.allow) {
      Item it;
      if (e.find('*') == std::string::npos) {
        it.suffix = "." + e;
      } else if (e.starts_with("*.") && e.find('*', 1) == std::string::npos) {
        it.suffix = e.substr(1);
        it.star = true;
      } else {
        std::string re;
        for (char c : e) re += c == '*' ? std::string("[a-z0-9.-]*") : RE2::QuoteMeta(std::string(1, c));
        it.re = std::make_unique<RE2>(re);
      }
      items.push_back(std::move(it));
    }
  }
  bool ok() const { return true; }
  bool allows(const std::string& host) const {
    for (const auto& it : items) {
      if (it.re) {
        if (RE2::FullMatch(host, *it.re)) return true;
      } else if (host.size() > it.suffix.size() && host.ends_with(it.suffix)) {
        if (!it.star || host.find('_') >= host.size() - it.suffix.size()) return true;
      } else if (!it.star && host.size() + 1 == it.suffix.size() && it.suffix.compare(1, host.size(), host) == 0) {
        return true;
      }
    }
    return false;
  }
};

// Squid's dstdom_regex taken to its end: all entries as one anchored RE2.
struct AlternationMatcher {
  std::unique_ptr<RE2> re;
  explicit AlternationMatcher(const PolicySpec& spec) {
    std::string pattern = "(?:";
    bool first = true;
    for (const auto& e : spec.allow) {
      if (!first) pattern += '|';
      first = false;
      if (e.find('*') == std::string::npos) {
        pattern += "(?:[a-z0-9_.-]*\\.)?" + RE2::QuoteMeta(e);
      } else {
        for (char c : e) pattern += c == '*' ? std::string("[a-z0-9.-]*") : RE2::QuoteMeta(std::string(1, c));
      }
    }
    pattern += ")";
    RE2::Options options;
    options.set_max_mem(int64_t{1} << 30);
    options.set_log_errors(false);
    re = std::make_unique<RE2>(pattern, options);
  }
  bool ok() const { return re->ok(); }
  bool allows(const std::string& host) const { return RE2::FullMatch(host, *re); }
};

// --- benchmarks ---------------------------------------------------------------

template <typename Matcher>
void BM_Compile(benchmark::State& state) {
  const PolicySpec spec = make_spec(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    Matcher m(spec);
    if (!m.ok()) {
      state.SkipWithError("compile failed");
      break;
    }
    benchmark::DoNotOptimize(m);
  }
}

template <typename Matcher>
void lookup(benchmark::State& state, std::string (*gen)(int), bool expect) {
  const int n = static_cast<int>(state.range(0));
  const Matcher m(make_spec(n));
  if (!m.ok()) {
    state.SkipWithError("compile failed");
    return;
  }
  const auto hosts = make_hosts(n, gen);
  for (const auto& h : hosts) {
    if (m.allows(h) != expect) {
      state.SkipWithError(("wrong answer for " + h).c_str());
      return;
    }
  }
  std::size_t i = 0;
  for (auto _ : state) {
    benchmark::DoNotOptimize(m.allows(hosts[i++ & 1023]));
  }
  state.SetItemsProcessed(state.iterations());
}

template <typename Matcher>
void BM_LookupHit(benchmark::State& state) { lookup<Matcher>(state, hit_host, true); }
template <typename Matcher>
void BM_LookupMiss(benchmark::State& state) { lookup<Matcher>(state, miss_host, false); }
template <typename Matcher>
void BM_LookupDeep(benchmark::State& state) { lookup<Matcher>(state, deep_host, true); }

#define AWF_BENCH_ALL(fn)                                                                              \
  BENCHMARK_TEMPLATE(fn, TrieMatcher)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kNanosecond); \
  BENCHMARK_TEMPLATE(fn, LinearMatcher)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kNanosecond); \
  BENCHMARK_TEMPLATE(fn, AlternationMatcher)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kNanosecond)

AWF_BENCH_ALL(BM_LookupHit);
AWF_BENCH_ALL(BM_LookupMiss);
AWF_BENCH_ALL(BM_LookupDeep);
BENCHMARK_TEMPLATE(BM_Compile, TrieMatcher)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Compile, LinearMatcher)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond);
BENCHMARK_TEMPLATE(BM_Compile, AlternationMatcher)->Arg(10)->Arg(1000)->Arg(100000)->Unit(benchmark::kMillisecond)->Iterations(1);

}  // namespace

BENCHMARK_MAIN();
