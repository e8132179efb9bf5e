// Request ids: the client's when it is plain text, else a random UUIDv4.
#include <sys/random.h>

#include <array>
#include <cerrno>
#include <cstdint>

#include "awf/api/rewrite.h"
#include "text.h"

namespace awf::api {

bool is_valid_request_id(std::string_view id) {
  if (id.empty() || id.size() > 128) return false;
  for (char c : id) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
                    c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string choose_request_id(const std::vector<Header>& headers) {
  if (const std::string* id = find_header(headers, "x-request-id"); id && is_valid_request_id(*id)) return *id;
  return random_uuid_v4();
}

std::string random_uuid_v4() {
  std::array<std::uint8_t, 16> b{};
  std::size_t have = 0;
  // getrandom(2) blocks only until the pool is first initialised, and
  // returns short or EINTR only for reads over 256 bytes or on a signal.
  while (have < b.size()) {
    const ssize_t got = ::getrandom(b.data() + have, b.size() - have, 0);
    if (got > 0) have += static_cast<std::size_t>(got);
    else if (errno != EINTR) break;
  }
  b[6] = static_cast<std::uint8_t>((b[6] & 0x0f) | 0x40);  // version 4
  b[8] = static_cast<std::uint8_t>((b[8] & 0x3f) | 0x80);  // RFC 9562 variant
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(36);
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) out += '-';
    out += kHex[b[i] >> 4];
    out += kHex[b[i] & 0xf];
  }
  return out;
}

}  // namespace awf::api
