// Decoding a chunked request body (RFC 9112 §7.1) as it arrives, for the
// API proxy, which must hold the whole body before rewriting it. It is the
// forward proxy's ChunkedScanner with a data sink, so both read the same
// grammar with the same limits (a body framed one way by one proxy and
// another way by the other would be a smuggling shape); see http_head.h.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "awf/proxy/http_head.h"

namespace awf::proxy {

class ChunkedDecoder {
 public:
  static constexpr std::size_t kMaxExtensionBytes = ChunkedScanner::kMaxExtensionBytes;
  static constexpr std::size_t kMaxTrailerBytes = ChunkedScanner::kMaxTrailerBytes;

  // Consumes bytes from the front of `in`, appending chunk data to `out`,
  // but never more than `out_limit` bytes in all in `out` plus one (so the
  // caller sees the body went over its limit). Returns how many bytes of
  // `in` belong to the body: fewer than in.size() only when the body ended
  // or the framing is broken.
  std::size_t feed(std::string_view in, std::string& out, std::size_t out_limit);

  bool done() const { return scanner_.done(); }
  bool failed() const { return scanner_.failed(); }

 private:
  ChunkedScanner scanner_;
};

}  // namespace awf::proxy
