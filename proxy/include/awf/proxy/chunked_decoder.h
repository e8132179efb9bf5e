// Decoding a chunked request body (RFC 9112 §7.1) as it arrives, for the
// API proxy, which must hold the whole body before rewriting it. A pure
// state machine over bytes: feed it what was read, it appends the data and
// says where the body ended. Strict like the head parsers: bare LF, a size
// without digits or over 16 hex digits, and oversized extensions or
// trailers are errors, never guesses.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace awf::proxy {

class ChunkedDecoder {
 public:
  // Chunk extensions and the trailer section are read and dropped; these
  // bound what a peer can make us scan for them.
  static constexpr std::size_t kMaxExtensionBytes = 4096;
  static constexpr std::size_t kMaxTrailerBytes = 64 * 1024;

  // Consumes bytes from the front of `in`, appending chunk data to `out`,
  // but never more than `out_limit` bytes in all in `out` plus one (so the
  // caller sees the body went over its limit). Returns how many bytes of
  // `in` belong to the body: fewer than in.size() only when the body ended
  // or the framing is broken.
  std::size_t feed(std::string_view in, std::string& out, std::size_t out_limit);

  bool done() const { return state_ == State::done; }
  bool failed() const { return state_ == State::failed; }

 private:
  enum class State : std::uint8_t {
    size, ext, size_lf, data, data_cr, data_lf, trailer_start, trailer, trailer_lf, last_lf, done, failed
  };
  State state_ = State::size;
  std::uint64_t remaining_ = 0;  // data bytes left in the current chunk
  unsigned digits_ = 0;
  std::size_t ext_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
};

}  // namespace awf::proxy
