// The chunked body decoder of the API proxy: see chunked_decoder.h.
#include "awf/proxy/chunked_decoder.h"

#include <algorithm>

namespace awf::proxy {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::size_t ChunkedDecoder::feed(std::string_view in, std::string& out, std::size_t out_limit) {
  std::size_t i = 0;
  while (i < in.size() && state_ != State::done && state_ != State::failed) {
    const char c = in[i];
    switch (state_) {
      case State::size: {
        const int v = hex_value(c);
        if (v >= 0) {
          if (++digits_ > 16) {
            state_ = State::failed;
            break;
          }
          remaining_ = remaining_ * 16 + static_cast<unsigned>(v);
          ++i;
        } else if (digits_ == 0) {
          state_ = State::failed;
        } else if (c == ';' || c == ' ' || c == '\t') {
          // Extensions (and the whitespace some senders put before them)
          // carry nothing the proxy uses.
          state_ = State::ext;
        } else if (c == '\r') {
          state_ = State::size_lf;
          ++i;
        } else {
          state_ = State::failed;
        }
        break;
      }
      case State::ext:
        if (c == '\r') {
          state_ = State::size_lf;
        } else if (c == '\n' || ++ext_bytes_ > kMaxExtensionBytes) {
          state_ = State::failed;
          break;
        }
        ++i;
        break;
      case State::size_lf:
        if (c != '\n') {
          state_ = State::failed;
          break;
        }
        ++i;
        ext_bytes_ = 0;
        digits_ = 0;
        state_ = remaining_ == 0 ? State::trailer_start : State::data;
        break;
      case State::data: {
        const std::size_t available = in.size() - i;
        const std::size_t take = static_cast<std::size_t>(std::min<std::uint64_t>(remaining_, available));
        // Past the limit plus one byte nothing more is kept: the caller
        // refuses the body as soon as it sees it over its limit.
        const std::size_t room = out.size() <= out_limit ? out_limit + 1 - out.size() : 0;
        out.append(in.data() + i, std::min(take, room));
        i += take;
        remaining_ -= take;
        if (remaining_ == 0) state_ = State::data_cr;
        break;
      }
      case State::data_cr:
        if (c != '\r') {
          state_ = State::failed;
          break;
        }
        ++i;
        state_ = State::data_lf;
        break;
      case State::data_lf:
        if (c != '\n') {
          state_ = State::failed;
          break;
        }
        ++i;
        state_ = State::size;
        break;
      case State::trailer_start:
        // Either the final CRLF or a trailer field line.
        if (c == '\r') {
          state_ = State::last_lf;
          ++i;
        } else if (c == '\n') {
          state_ = State::failed;
        } else {
          state_ = State::trailer;
        }
        break;
      case State::trailer:
        if (++trailer_bytes_ > kMaxTrailerBytes || c == '\n') {
          state_ = State::failed;
          break;
        }
        if (c == '\r') state_ = State::trailer_lf;
        ++i;
        break;
      case State::trailer_lf:
        if (c != '\n') {
          state_ = State::failed;
          break;
        }
        ++i;
        state_ = State::trailer_start;
        break;
      case State::last_lf:
        if (c != '\n') {
          state_ = State::failed;
          break;
        }
        ++i;
        state_ = State::done;
        break;
      case State::done:
      case State::failed:
        break;
    }
  }
  return i;
}

}  // namespace awf::proxy
