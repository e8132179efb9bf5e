// Building the TLS alert record sent on denial (see tls_alert.h).
#include "awf/intercept/tls_alert.h"

#include <algorithm>

namespace awf::intercept {

const char* to_string(TlsAlert alert) {
  switch (alert) {
    case TlsAlert::handshake_failure: return "handshake_failure";
    case TlsAlert::access_denied: return "access_denied";
    case TlsAlert::decode_error: return "decode_error";
    case TlsAlert::protocol_version: return "protocol_version";
    case TlsAlert::internal_error: return "internal_error";
    case TlsAlert::unrecognized_name: return "unrecognized_name";
  }
  return "unknown";
}

std::array<std::uint8_t, 7> tls_alert_record(TlsAlert alert, std::uint16_t record_version) {
  constexpr std::uint8_t kContentAlert = 21;
  constexpr std::uint8_t kLevelFatal = 2;
  return {kContentAlert,
          static_cast<std::uint8_t>(record_version >> 8),
          static_cast<std::uint8_t>(record_version & 0xff),
          0,
          2,
          kLevelFatal,
          static_cast<std::uint8_t>(alert)};
}

std::uint16_t alert_record_version(const ClientHello& hello) {
  if (hello.legacy_version < 0x0301) return 0x0303;
  return std::min<std::uint16_t>(hello.legacy_version, 0x0303);
}

std::optional<TlsAlert> alert_for(HelloError error) {
  switch (error) {
    case HelloError::not_tls:
    case HelloError::sslv2_hello:
      return std::nullopt;
    case HelloError::unsupported_version:
      return TlsAlert::protocol_version;
    case HelloError::not_client_hello:
    case HelloError::malformed:
    case HelloError::too_large:
      return TlsAlert::decode_error;
    case HelloError::no_sni:
      return TlsAlert::handshake_failure;
    case HelloError::invalid_sni:
    case HelloError::sni_ip_literal:
      return TlsAlert::unrecognized_name;
  }
  return TlsAlert::handshake_failure;
}

}  // namespace awf::intercept
