// The SOCKS version 5 messages awf-proxy's SOCKS front end reads and writes:
// the client's greeting (its authentication methods), its request (command
// and destination) and the server's replies. Pure functions over bytes, no
// I/O; each parse answers need-more, done or error with what it found.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace awf::proxy::socks {

inline constexpr std::uint8_t kVersion = 5;
// The one authentication method offered: none. Username/password would put
// a secret on a loopback listener for nothing: the listener already decides
// who may connect (its address, the sandbox's namespace).
inline constexpr std::uint8_t kNoAuthentication = 0x00;
inline constexpr std::uint8_t kNoAcceptableMethod = 0xFF;

// The largest greeting (2 + 255 methods) and request (4 + 1 + 255-byte name
// + 2) the protocol can express: the front end never holds more before a
// decision.
inline constexpr std::size_t kMaxGreeting = 257;
inline constexpr std::size_t kMaxRequest = 262;

enum class ParseStatus : std::uint8_t { need_more, done, error };

enum class MessageError : std::uint8_t {
  none,
  wrong_version,         // the first byte is not 5 (an HTTP request, SOCKS4, anything else)
  no_methods,            // a greeting listing no method at all
  reserved_not_zero,     // a request whose reserved byte is set
  address_type_unknown,  // neither IPv4 (1), a name (3) nor IPv6 (4)
  empty_name,            // a name of length 0
};
const char* to_string(MessageError e);

struct GreetingParse {
  ParseStatus status = ParseStatus::need_more;
  MessageError error = MessageError::none;
  bool offers_no_authentication = false;  // done: method 0 is among those listed
  std::size_t size = 0;                   // done: bytes the greeting took
};
GreetingParse parse_greeting(std::span<const std::uint8_t> bytes);

enum class Command : std::uint8_t { connect = 1, bind = 2, udp_associate = 3 };
enum class AddressType : std::uint8_t { ipv4 = 1, name = 3, ipv6 = 4 };

struct Request {
  std::uint8_t command = 0;  // Command's values; any other byte is kept for the reply and the log
  AddressType address_type = AddressType::name;
  // As a CONNECT authority writes it: "192.0.2.1", "[2001:db8::1]", or the
  // name's bytes exactly as sent (not validated: the policy decides).
  std::string host;
  std::uint16_t port = 0;
};

struct RequestParse {
  ParseStatus status = ParseStatus::need_more;
  MessageError error = MessageError::none;
  Request request;       // done
  std::size_t size = 0;  // done: bytes the request took
};
RequestParse parse_request(std::span<const std::uint8_t> bytes);

// "CONNECT", "BIND", "UDP_ASSOCIATE", or "CMD_<n>": the method field of the
// log line.
std::string command_name(std::uint8_t command);

enum class Reply : std::uint8_t {
  succeeded = 0,
  general_failure = 1,
  not_allowed = 2,  // connection not allowed by ruleset
  network_unreachable = 3,
  host_unreachable = 4,
  connection_refused = 5,
  ttl_expired = 6,  // used for timeouts, as most SOCKS servers do
  command_not_supported = 7,
  address_type_not_supported = 8,
};
const char* to_string(Reply r);

// The reply message with a bound address: `address` holds 4 (IPv4) or 16
// (IPv6) bytes in network order; an empty span writes 0.0.0.0:0, for
// failures, which have no bound address.
std::string encode_reply(Reply r, std::span<const std::uint8_t> address = {}, std::uint16_t port = 0);

}  // namespace awf::proxy::socks
