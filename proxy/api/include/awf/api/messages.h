// The plain structs the API proxy's core works on: a request as the agent
// sent it, the request to send upstream, or a reply made locally. No
// networking types, so the core can be unit-tested and fuzzed on its own.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace awf::api {

// One header line; names keep the client's spelling, order is kept.
struct Header {
  std::string name;
  std::string value;
  friend bool operator==(const Header&, const Header&) = default;
};

// The agent's request, whole: the body is buffered before rewriting.
struct ApiRequest {
  std::string method;
  std::string target;  // the request-target exactly as received
  std::vector<Header> headers;
  std::string body;
};

// What goes to the provider: always https://host:443. `headers` start with
// Host and carry the injected credential; the body's Content-Length is set
// whenever the request has a body.
struct UpstreamRequest {
  std::string host;
  std::uint16_t port = 443;
  std::string method;
  std::string target;
  std::vector<Header> headers;
  std::string body;
  std::string request_id;  // also in headers as X-Request-ID
  std::string model;       // the model the policy checked ("" when none was found)
  bool websocket = false;  // a WebSocket upgrade: relay raw after the handshake
};

// A reply the proxy gives itself, without contacting the provider: JSON body,
// Content-Type and X-Request-ID headers.
struct LocalReply {
  int status = 200;
  std::vector<Header> headers;
  std::string body;
  std::string model;  // the model a policy reply refused, for the log ("" otherwise)
};

// The value of the first header named `name` (ASCII case-insensitive), or
// nullptr.
const std::string* find_header(const std::vector<Header>& headers, std::string_view name);

// Every header named `name`, in order.
std::vector<std::string> header_values(const std::vector<Header>& headers, std::string_view name);

}  // namespace awf::api
