// DNS over TCP framing: the two-byte length prefix of RFC 1035 §4.2.2.
#include "awf/intercept/dns_framing.h"

#include <string>

namespace awf::intercept {

DnsTcpFrame next_tcp_dns_message(std::span<const std::uint8_t> buffer) {
  DnsTcpFrame frame;
  if (buffer.size() < 2) return frame;
  const std::size_t length = (std::size_t{buffer[0]} << 8) | buffer[1];
  if (length == 0) {
    frame.status = DnsTcpFrame::Status::error;
    return frame;
  }
  if (buffer.size() - 2 < length) return frame;
  frame.status = DnsTcpFrame::Status::done;
  frame.message = buffer.subspan(2, length);
  frame.consumed = 2 + length;
  return frame;
}

Result<std::vector<std::uint8_t>> frame_tcp_dns_message(std::span<const std::uint8_t> message) {
  if (message.empty() || message.size() > 65535) {
    return Error{"DNS message of " + std::to_string(message.size()) + " bytes cannot be framed for TCP (1..65535)"};
  }
  std::vector<std::uint8_t> framed;
  framed.reserve(message.size() + 2);
  framed.push_back(static_cast<std::uint8_t>(message.size() >> 8));
  framed.push_back(static_cast<std::uint8_t>(message.size() & 0xff));
  framed.insert(framed.end(), message.begin(), message.end());
  return framed;
}

}  // namespace awf::intercept
