// A minimal authoritative DNS server over UDP for tests: answers A and AAAA
// queries for the names it was given, NXDOMAIN for everything else, so a
// resolver under test never asks a real server. Counts the queries it saw.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace awf::testing {

class DnsStub {
 public:
  // `records`: lower-case name -> addresses ("127.0.0.11", "::1").
  // `port` 0 picks a free one; 53 lets it stand in for a resolver named by IP only.
  static std::unique_ptr<DnsStub> start(const std::string& host,
                                        std::map<std::string, std::vector<std::string>> records,
                                        std::uint16_t port = 0);
  ~DnsStub();
  std::uint16_t port() const;
  std::size_t queries() const;

  struct Impl;

 private:
  explicit DnsStub(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace awf::testing
