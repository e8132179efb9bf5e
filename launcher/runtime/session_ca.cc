// The per-run CA of --ssl-bump: see session_ca.h.
#include "awf/runtime/session_ca.h"

#include <fcntl.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>

namespace awf::runtime {

namespace fs = std::filesystem;

namespace {

struct FreeX509 {
  void operator()(X509* x) const { ::X509_free(x); }
};
struct FreeKey {
  void operator()(EVP_PKEY* k) const { ::EVP_PKEY_free(k); }
};

std::string openssl_reason() {
  const unsigned long e = ::ERR_get_error();
  ::ERR_clear_error();
  const char* reason = e ? ::ERR_reason_error_string(e) : nullptr;
  return reason ? reason : "unknown OpenSSL error";
}

bool add_extension(X509* cert, X509V3_CTX* v3, int nid, const char* value) {
  X509_EXTENSION* ext = ::X509V3_EXT_conf_nid(nullptr, v3, nid, value);
  if (!ext) return false;
  const bool ok = ::X509_add_ext(cert, ext, -1) == 1;
  ::X509_EXTENSION_free(ext);
  return ok;
}

// Creates `path` (refusing one that exists) with `mode` and lets `write`
// fill it through a FILE*.
template <typename Write>
Status write_new_file(const fs::path& path, mode_t mode, Write write) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, mode);
  if (fd < 0) return Error{"cannot create " + path.string() + ": " + std::strerror(errno)};
  std::FILE* f = ::fdopen(fd, "w");
  if (!f) {
    const int e = errno;
    ::close(fd);
    return Error{"cannot write " + path.string() + ": " + std::strerror(e)};
  }
  const bool ok = write(f);
  const bool closed = std::fclose(f) == 0;
  if (!ok || !closed) return Error{"cannot write " + path.string() + ": " + (ok ? std::strerror(errno) : openssl_reason())};
  return ok_status();
}

fs::path system_bundle() {
  const char* from_env = std::getenv(::X509_get_default_cert_file_env());
  if (from_env && *from_env) return from_env;
  return ::X509_get_default_cert_file();
}

}  // namespace

Result<SessionCa> make_session_ca(const fs::path& private_dir, const fs::path& bundle) {
  auto failed = [](const char* step) { return Error{"--ssl-bump: making the session CA: " + std::string(step) + ": " + openssl_reason()}; };
  std::unique_ptr<EVP_PKEY, FreeKey> key(::EVP_EC_gen("P-256"));
  if (!key) return failed("key");
  std::unique_ptr<X509, FreeX509> cert(::X509_new());
  if (!cert || ::X509_set_version(cert.get(), 2) != 1) return failed("X509_new");
  unsigned char serial[16];
  if (::RAND_bytes(serial, sizeof serial) != 1) return failed("serial");
  serial[0] &= 0x7f;
  BIGNUM* bn = ::BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_ok = bn && ::BN_to_ASN1_INTEGER(bn, ::X509_get_serialNumber(cert.get())) != nullptr;
  ::BN_free(bn);
  if (!serial_ok) return failed("serial");
  // Valid from an hour ago (clocks a little behind) for one day: a run that
  // outlives it has its clients refuse new connections, never a CA that
  // stays trusted.
  if (!::X509_gmtime_adj(::X509_getm_notBefore(cert.get()), -3600) ||
      !::X509_gmtime_adj(::X509_getm_notAfter(cert.get()), 24 * 3600)) {
    return failed("validity");
  }
  X509_NAME* name = ::X509_get_subject_name(cert.get());
  if (::X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("AWF Session CA"),
                                   -1, -1, 0) != 1 ||
      ::X509_set_issuer_name(cert.get(), name) != 1 || ::X509_set_pubkey(cert.get(), key.get()) != 1) {
    return failed("subject");
  }
  X509V3_CTX v3;
  ::X509V3_set_ctx(&v3, cert.get(), cert.get(), nullptr, nullptr, 0);
  if (!add_extension(cert.get(), &v3, NID_basic_constraints, "critical,CA:TRUE,pathlen:0") ||
      !add_extension(cert.get(), &v3, NID_key_usage, "critical,keyCertSign,cRLSign") ||
      !add_extension(cert.get(), &v3, NID_subject_key_identifier, "hash")) {
    return failed("extensions");
  }
  if (::X509_sign(cert.get(), key.get(), ::EVP_sha256()) <= 0) return failed("signing");

  SessionCa ca{private_dir / "ca.pem", private_dir / "ca-key.pem", bundle};
  AWF_TRY(write_new_file(ca.key, 0600, [&](std::FILE* f) {
    return ::PEM_write_PrivateKey(f, key.get(), nullptr, nullptr, 0, nullptr, nullptr) == 1;
  }));
  AWF_TRY(write_new_file(ca.cert, 0644, [&](std::FILE* f) { return ::PEM_write_X509(f, cert.get()) == 1; }));

  std::string system;
  {
    std::ifstream in(system_bundle(), std::ios::binary);
    if (in) {
      std::ostringstream text;
      text << in.rdbuf();
      system = text.str();
      if (!system.empty() && system.back() != '\n') system += '\n';
    }
  }
  std::ifstream own(ca.cert, std::ios::binary);
  std::ostringstream own_text;
  own_text << own.rdbuf();
  const std::string all = system + own_text.str();
  AWF_TRY(write_new_file(ca.bundle, 0644,
                         [&](std::FILE* f) { return std::fwrite(all.data(), 1, all.size(), f) == all.size(); }));
  return ca;
}

}  // namespace awf::runtime
