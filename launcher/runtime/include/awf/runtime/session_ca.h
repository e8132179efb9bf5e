// The per-run certificate authority of --ssl-bump: made fresh for each run
// (EC P-256, valid one day), its key only in the run's private work
// directory (0600), never visible to the command; awf-proxy signs the
// certificates it mints with it, and the command trusts it through a bundle
// of the system's CA certificates followed by it.
#pragma once

#include <filesystem>

#include "awf/result.h"

namespace awf::runtime {

struct SessionCa {
  std::filesystem::path cert;    // PEM, 0644
  std::filesystem::path key;     // PEM, 0600
  std::filesystem::path bundle;  // the system's CA bundle, then the CA; 0644
};

// Writes ca.pem and ca-key.pem into `private_dir` (which must exist and be
// private: the key is what lets anyone forge certificates the command
// trusts) and the trust bundle at `bundle`. Files that exist are refused,
// not overwritten. The system bundle is OpenSSL's default certificate file
// (or $SSL_CERT_FILE); when it is missing the bundle holds only the CA.
Result<SessionCa> make_session_ca(const std::filesystem::path& private_dir, const std::filesystem::path& bundle);

}  // namespace awf::runtime
