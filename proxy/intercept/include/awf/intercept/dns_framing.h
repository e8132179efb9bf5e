// DNS over TCP framing (RFC 1035 §4.2.2, RFC 7766 §8): each message carries a
// two-byte big-endian length, and a read may end anywhere inside one.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "awf/result.h"

namespace awf::intercept {

struct DnsTcpFrame {
  enum class Status : std::uint8_t { need_more, done, error };
  Status status = Status::need_more;
  std::span<const std::uint8_t> message;  // when done: the message without its prefix
  std::size_t consumed = 0;               // when done: bytes to drop from the buffer
};

// Looks for one complete message at the start of `buffer`. A zero length
// prefix is an error (no DNS message is empty); call again on the rest after
// dropping `consumed` bytes, since clients may pipeline queries.
DnsTcpFrame next_tcp_dns_message(std::span<const std::uint8_t> buffer);

// Prefixes a message with its length; fails for messages over 65535 bytes.
Result<std::vector<std::uint8_t>> frame_tcp_dns_message(std::span<const std::uint8_t> message);

}  // namespace awf::intercept
