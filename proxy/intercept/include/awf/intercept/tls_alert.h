// The TLS alert record the transparent HTTPS front end sends before closing a
// denied connection, so the client reports a reason instead of a reset.
#pragma once

#include <array>
#include <cstdint>
#include <optional>

#include "awf/intercept/client_hello.h"

namespace awf::intercept {

// RFC 8446 §6.2 AlertDescription values we have a use for.
enum class TlsAlert : std::uint8_t {
  handshake_failure = 40,   // no acceptable way to continue (no SNI)
  access_denied = 49,       // the policy said no: curl prints "tlsv1 alert access denied"
  decode_error = 50,        // the hello could not be parsed
  protocol_version = 70,    // SSL 3.0 and older
  internal_error = 80,      // our own failure (upstream unreachable is not an alert case)
  unrecognized_name = 112,  // RFC 6066 §3: the server name is not one we serve
};
const char* to_string(TlsAlert alert);

// A fatal alert record: ContentType alert(21), the record version, length 2,
// AlertLevel fatal(2), the description (RFC 8446 §5.1, §6). Before a version
// is agreed, 0x0303 is what RFC 8446 §5.1 has every record carry; a client
// that offered only TLS 1.0 gets its own legacy version back instead.
std::array<std::uint8_t, 7> tls_alert_record(TlsAlert alert, std::uint16_t record_version = 0x0303);

// The record version to answer a hello with: min(legacy_version, 0x0303).
std::uint16_t alert_record_version(const ClientHello& hello);

// The alert for a hello we could not accept, or nothing when the peer does
// not speak TLS at all (non-TLS bytes, SSLv2): those get a plain close.
std::optional<TlsAlert> alert_for(HelloError error);

}  // namespace awf::intercept
