// Strict HTTP/1.x message-head parsers and body framing for the forward proxy:
// pure functions over bytes (need-more / done / error), no I/O. Strict on
// purpose: whatever two parsers could read differently (CL+TE, duplicate
// lengths, obs-fold, bare LF) is refused, never forwarded (docs/threat-model.md, request smuggling).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace awf::proxy {

enum class ParseStatus { need_more, done, error };

// Why a head was refused. Closed set with a log string.
enum class HeadError : std::uint8_t {
  none,
  too_large,              // head longer than the configured limit
  bare_lf,                // LF without CR as a line ending
  obs_fold,               // header line continued on the next line
  bad_start_line,         // request or status line malformed
  bad_version,            // not HTTP/1.0 or HTTP/1.1
  bad_header,             // header name/value malformed (space before colon, CTLs)
  length_and_chunked,     // Content-Length together with Transfer-Encoding
  duplicate_length,       // more than one Content-Length
  bad_length,             // Content-Length not a decimal number
  bad_transfer_encoding,  // a coding other than a final `chunked`
  too_many_empty_lines,   // more than kMaxLeadingEmptyLines CRLFs before the start line
  // Connection lists a header that decides framing or routing. Dropping it,
  // as Connection asks (RFC 9110 §7.6.1), would forward a body framed by a
  // header the next hop never sees: request smuggling. Refused, not guessed.
  connection_lists_content_length,
  connection_lists_transfer_encoding,
  connection_lists_host,
};
const char* to_string(HeadError error);

struct HeaderField {
  std::string name;
  std::string value;
};

// What a body looks like on the wire.
enum class BodyKind : std::uint8_t { none, length, chunked, until_close };

struct MessageHead {
  int version_minor = 1;  // HTTP/1.<minor>
  std::vector<HeaderField> headers;
  std::size_t head_size = 0;  // bytes of the head including the final CRLFCRLF
  // Every token of every Connection header, lower case, sorted, each once;
  // filled by the parsers. Collected once so that dropping the headers it
  // names costs headers x log(tokens), not headers x tokens: a 64 KiB head
  // can hold thousands of both.
  std::vector<std::string> connection_tokens;

  // First value of a header (case-insensitive name), or nullptr.
  const std::string* find(std::string_view name) const;
  // True if a comma-separated header (Connection, Upgrade) lists `token`.
  bool has_token(std::string_view name, std::string_view token) const;
  // True if Connection lists `token` (case-insensitive), from connection_tokens.
  bool connection_lists(std::string_view token) const;
};

struct RequestHead : MessageHead {
  std::string method;
  std::string target;
  BodyKind body = BodyKind::none;  // never until_close for requests
  std::uint64_t content_length = 0;
};

struct ResponseHead : MessageHead {
  int status = 0;
  std::string reason;
  bool chunked = false;
  std::optional<std::uint64_t> content_length;
  // Body framing given the request method (HEAD, CONNECT) and the status.
  BodyKind body_kind(std::string_view request_method) const;
};

struct ParseResult {
  ParseStatus status = ParseStatus::need_more;
  HeadError error = HeadError::none;
};

// RFC 9112 §2.2 asks a server to ignore at least one empty line before the
// start line (clients once sent a CRLF after a POST body). A few are
// ignored; more are refused (too_many_empty_lines), so megabytes of CRLFs
// are neither buffered nor rescanned.
inline constexpr unsigned kMaxLeadingEmptyLines = 4;

// Where the search for the end of a head stopped. Pass the same cursor with
// the same buffer, grown by appending, until the head is done or refused:
// each call looks only at bytes it has not seen, so a head that arrives in
// n pieces costs O(bytes), not O(n x bytes). A new head needs a new cursor.
struct HeadCursor {
  std::size_t scanned = 0;        // bytes searched so far
  std::size_t start = 0;          // where the start line begins
  unsigned empty_lines = 0;       // leading CRLFs seen
  bool past_empty_lines = false;  // the start line has begun
  std::uint64_t bytes_examined = 0;  // work done over all calls (tests assert it)
};

// Parses a request head from the start of `bytes`. Leading empty lines are
// skipped (RFC 9112 §2.2, at most kMaxLeadingEmptyLines). `max_bytes`
// bounds the head, leading empty lines included; more is too_large.
ParseResult parse_request_head(std::string_view bytes, std::size_t max_bytes, RequestHead& out, HeadCursor& cursor);
ParseResult parse_response_head(std::string_view bytes, std::size_t max_bytes, ResponseHead& out,
                                HeadCursor& cursor);
// The same, for a buffer holding everything there is (a fresh cursor).
ParseResult parse_request_head(std::string_view bytes, std::size_t max_bytes, RequestHead& out);
ParseResult parse_response_head(std::string_view bytes, std::size_t max_bytes, ResponseHead& out);

// Follows a chunked body (RFC 9112 §7.1) byte by byte without decoding it,
// so the proxy can pass it through unchanged and still know where the
// message ends. The API proxy's ChunkedDecoder is this scanner with a data
// sink: both read one grammar, so no body is framed one way by one and
// another way by the other. Strict: bare LF, a size without digits or over
// kMaxSizeDigits, anything but BWS before an extension, control bytes in an
// extension, obs-fold in the trailers, and oversized extensions or trailers
// are errors, never guesses.
class ChunkedScanner {
 public:
  static constexpr unsigned kMaxSizeDigits = 16;  // 16 hex digits fill 64 bits
  // Chunk extensions and the trailer section are read and dropped; these
  // bound what a peer can make us scan for them.
  static constexpr std::size_t kMaxExtensionBytes = 4096;  // per chunk
  static constexpr std::size_t kMaxTrailerBytes = 64 * 1024;

  // Consumes up to n bytes; returns how many belong to the body (less than n
  // only when the body ended or the framing is broken).
  std::size_t feed(const char* data, std::size_t n) { return feed(data, n, nullptr, 0); }
  // The same, also appending the chunk data (not the framing) to `*body`,
  // but never more than `body_limit` bytes in all in `*body` plus one (so
  // the caller sees the body went over its limit). `body` may be null.
  std::size_t feed(const char* data, std::size_t n, std::string* body, std::size_t body_limit);
  bool done() const { return state_ == State::done; }
  bool failed() const { return state_ == State::failed; }

 private:
  enum class State : std::uint8_t {
    size, size_ws, ext, size_lf, data, data_cr, data_lf, trailer_start, trailer, trailer_lf, last_lf,
    done, failed
  };
  State state_ = State::size;
  std::uint64_t remaining_ = 0;  // data bytes left in the current chunk
  unsigned digits_ = 0;
  std::size_t ext_bytes_ = 0;
  std::size_t trailer_bytes_ = 0;
};

// The request target of a forward proxy.
struct Target {
  std::string host;       // as written, brackets kept for IPv6
  std::uint16_t port = 0;
  std::string path;       // origin-form: path and query, at least "/"
};
// `http://host[:port]/path?q` (userinfo dropped, fragment dropped). Only the
// http scheme: nullopt for anything else or anything malformed.
std::optional<Target> parse_absolute_http(std::string_view target);
// `host:port` or `[v6]:port` of a CONNECT request; a port is required.
std::optional<Target> parse_authority(std::string_view authority);

// The head sent upstream: origin-form request line, Host from the URL (the
// host we decided on and route to), hop-by-hop and Proxy-* headers and those
// Connection lists dropped, no Via or X-Forwarded-For. `keep_upgrade` passes
// a WebSocket Upgrade on. The head must come from parse_request_head, which
// refuses a Connection that lists a framing header. `absolute_form`: the
// request line carries http://host[:port]/path instead, for a parent proxy.
std::string build_upstream_request(const RequestHead& head, const Target& target, bool keep_upgrade,
                                   bool absolute_form = false);

// The response head relayed to the client, hop-by-hop headers dropped;
// `Connection: close` added when the proxy will close the client connection.
std::string build_client_response(const ResponseHead& head, bool close_client, bool keep_upgrade);

// Lower-cases ASCII.
std::string ascii_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

}  // namespace awf::proxy
