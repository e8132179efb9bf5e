// SSL bump's certificate authority: see bump_authority.h.
#include "awf/proxy/bump_authority.h"

#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <list>
#include <mutex>
#include <unordered_map>

#include "awf/policy/host.h"
#include "awf/upstream_proxy.h"

namespace awf::proxy {

namespace {

// Minted certificates are valid from an hour ago (clients with a clock
// slightly behind) for a day, never past the CA's own end; a cached one is
// minted again after half a day, so none in use is near its end.
constexpr long kBackdateSeconds = 3600;
constexpr long kLeafSeconds = 24 * 3600;
constexpr auto kReuseFor = std::chrono::hours(12);

struct FreeX509 {
  void operator()(X509* x) const { ::X509_free(x); }
};
struct FreeKey {
  void operator()(EVP_PKEY* k) const { ::EVP_PKEY_free(k); }
};
using X509Ptr = std::unique_ptr<X509, FreeX509>;
using KeyPtr = std::unique_ptr<EVP_PKEY, FreeKey>;

std::shared_ptr<SSL_CTX> own(SSL_CTX* ctx) { return std::shared_ptr<SSL_CTX>(ctx, ::SSL_CTX_free); }

// OpenSSL's reason for the failure just seen (the first error queued: the
// cause; later ones say where it surfaced), and an empty queue after.
std::string openssl_reason() {
  const unsigned long first = ::ERR_get_error();
  ::ERR_clear_error();
  if (first == 0) return "unknown OpenSSL error";
  const char* reason = ::ERR_reason_error_string(first);
  char text[256];
  ::ERR_error_string_n(first, text, sizeof text);
  return reason ? std::string(reason) : std::string(text);
}

std::string mode_text(mode_t mode) {
  char text[8];
  std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
  return text;
}

Result<X509Ptr> read_certificate(const std::string& path) {
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return Error{"--ssl-bump-cert \"" + path + "\": cannot open: " + std::strerror(errno)};
  ::ERR_clear_error();
  X509Ptr cert(::PEM_read_X509(f, nullptr, nullptr, nullptr));
  std::fclose(f);
  if (!cert) return Error{"--ssl-bump-cert \"" + path + "\": not a PEM certificate: " + openssl_reason()};
  return cert;
}

Result<KeyPtr> read_key(const std::string& path) {
  struct stat st{};
  if (::stat(path.c_str(), &st) != 0) {
    return Error{"--ssl-bump-key \"" + path + "\": cannot open: " + std::strerror(errno)};
  }
  // Whoever reads the CA's key can forge certificates every bumped client
  // trusts: the key stays its owner's.
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return Error{"--ssl-bump-key \"" + path + "\" is readable or writable by group or others (mode " +
                 mode_text(st.st_mode) + "): the CA key signs certificates every bumped client trusts; chmod 600 \"" +
                 path + "\""};
  }
  std::FILE* f = std::fopen(path.c_str(), "r");
  if (!f) return Error{"--ssl-bump-key \"" + path + "\": cannot open: " + std::strerror(errno)};
  ::ERR_clear_error();
  // No passphrase prompt: a daemon has no terminal to ask on.
  pem_password_cb* no_passphrase = [](char*, int, int, void*) { return 0; };
  KeyPtr key(::PEM_read_PrivateKey(f, nullptr, no_passphrase, nullptr));
  std::fclose(f);
  if (!key) {
    return Error{"--ssl-bump-key \"" + path + "\": not an unencrypted PEM private key: " + openssl_reason()};
  }
  return key;
}

// ALPN: HTTP/1.1 is all the proxy speaks on a bumped connection. A client
// that offers only h2 gets no protocol and falls back to HTTP/1.1 or leaves.
int select_http11(SSL*, const unsigned char** out, unsigned char* outlen, const unsigned char* in, unsigned inlen,
                  void*) {
  static const unsigned char kOurs[] = "\x08http/1.1";
  unsigned char* chosen = nullptr;
  if (::SSL_select_next_proto(&chosen, outlen, kOurs, sizeof kOurs - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED) {
    return SSL_TLSEXT_ERR_NOACK;
  }
  *out = chosen;
  return SSL_TLSEXT_ERR_OK;
}

bool add_extension(X509* cert, X509V3_CTX* v3, int nid, const std::string& value) {
  X509_EXTENSION* ext = ::X509V3_EXT_conf_nid(nullptr, v3, nid, value.c_str());
  if (!ext) return false;
  const bool ok = ::X509_add_ext(cert, ext, -1) == 1;
  ::X509_EXTENSION_free(ext);
  return ok;
}

}  // namespace

struct BumpAuthority::Impl {
  X509Ptr ca;
  KeyPtr ca_key;
  KeyPtr leaf_key;  // one key for every minted certificate: minting costs a signature, not a key generation
  std::shared_ptr<SSL_CTX> upstream;
  std::vector<std::string> excluded;
  std::shared_ptr<const policy::UrlAllowlist> allow_urls;
  std::size_t capacity = kDefaultCacheSize;

  struct Entry {
    std::string name;
    std::shared_ptr<SSL_CTX> context;
    std::chrono::steady_clock::time_point minted;
  };
  mutable std::mutex mutex;  // guards lru and index; never held while minting
  std::list<Entry> lru;      // most recently used first
  std::unordered_map<std::string, std::list<Entry>::iterator> index;
  std::atomic<std::size_t> minted{0};

  Result<X509Ptr> mint(const std::string& name) const;
  Result<std::shared_ptr<SSL_CTX>> server_context_for(const std::string& name) const;
};

Result<X509Ptr> BumpAuthority::Impl::mint(const std::string& name) const {
  auto failed = [&](const char* step) {
    return Error{"minting a certificate for \"" + name + "\": " + step + ": " + openssl_reason()};
  };
  // Only names the policy let through come here; the SAN text must not be
  // able to add entries of its own.
  if (name.empty() || name.find_first_of(", \t\r\n") != std::string::npos) {
    return Error{"minting a certificate for \"" + name + "\": not a host name"};
  }
  X509Ptr cert(::X509_new());
  if (!cert || ::X509_set_version(cert.get(), 2) != 1) return failed("X509_new");
  unsigned char serial[16];
  if (::RAND_bytes(serial, sizeof serial) != 1) return failed("RAND_bytes");
  serial[0] &= 0x7f;  // positive, as RFC 5280 asks
  BIGNUM* bn = ::BN_bin2bn(serial, sizeof serial, nullptr);
  const bool serial_ok = bn && ::BN_to_ASN1_INTEGER(bn, ::X509_get_serialNumber(cert.get())) != nullptr;
  ::BN_free(bn);
  if (!serial_ok) return failed("serial number");
  if (!::X509_gmtime_adj(::X509_getm_notBefore(cert.get()), -kBackdateSeconds) ||
      !::X509_gmtime_adj(::X509_getm_notAfter(cert.get()), kLeafSeconds)) {
    return failed("validity");
  }
  if (::ASN1_TIME_compare(::X509_get0_notAfter(cert.get()), ::X509_get0_notAfter(ca.get())) > 0 &&
      ::X509_set1_notAfter(cert.get(), ::X509_get0_notAfter(ca.get())) != 1) {
    return failed("validity");
  }
  const std::optional<policy::IpAddress> ip = policy::parse_ip_literal(name);
  std::string plain = ip ? ip->canonical : name;
  if (!plain.empty() && plain.front() == '[') plain = plain.substr(1, plain.size() - 2);
  X509_NAME* subject = ::X509_get_subject_name(cert.get());
  const auto* o = reinterpret_cast<const unsigned char*>("awf-proxy ssl bump");
  if (::X509_NAME_add_entry_by_txt(subject, "O", MBSTRING_ASC, o, -1, -1, 0) != 1) return failed("subject");
  if (plain.size() <= 64 &&  // ub-common-name
      ::X509_NAME_add_entry_by_txt(subject, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(plain.c_str()),
                                   -1, -1, 0) != 1) {
    return failed("subject");
  }
  if (::X509_set_issuer_name(cert.get(), ::X509_get_subject_name(ca.get())) != 1) return failed("issuer");
  if (::X509_set_pubkey(cert.get(), leaf_key.get()) != 1) return failed("public key");
  X509V3_CTX v3;
  ::X509V3_set_ctx(&v3, ca.get(), cert.get(), nullptr, nullptr, 0);
  if (!add_extension(cert.get(), &v3, NID_subject_alt_name, (ip ? "IP:" : "DNS:") + plain) ||
      !add_extension(cert.get(), &v3, NID_basic_constraints, "critical,CA:FALSE") ||
      !add_extension(cert.get(), &v3, NID_key_usage, "critical,digitalSignature,keyEncipherment") ||
      !add_extension(cert.get(), &v3, NID_ext_key_usage, "serverAuth") ||
      !add_extension(cert.get(), &v3, NID_subject_key_identifier, "hash") ||
      !add_extension(cert.get(), &v3, NID_authority_key_identifier, "keyid")) {
    return failed("extensions");
  }
  if (::X509_sign(cert.get(), ca_key.get(), ::EVP_sha256()) <= 0) return failed("signing");
  return cert;
}

Result<std::shared_ptr<SSL_CTX>> BumpAuthority::Impl::server_context_for(const std::string& name) const {
  AWF_TRY_ASSIGN(X509Ptr cert, mint(name));
  std::shared_ptr<SSL_CTX> ctx = own(::SSL_CTX_new(::TLS_server_method()));
  auto failed = [&](const char* step) {
    return Error{"TLS context for \"" + name + "\": " + step + ": " + openssl_reason()};
  };
  if (!ctx) return failed("SSL_CTX_new");
  ::SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (::SSL_CTX_use_certificate(ctx.get(), cert.get()) != 1 || ::SSL_CTX_use_PrivateKey(ctx.get(), leaf_key.get()) != 1 ||
      ::SSL_CTX_add1_chain_cert(ctx.get(), ca.get()) != 1) {
    return failed("certificate");
  }
  ::SSL_CTX_set_alpn_select_cb(ctx.get(), select_http11, nullptr);
  return ctx;
}

BumpAuthority::BumpAuthority() : impl_(std::make_unique<Impl>()) {}
BumpAuthority::~BumpAuthority() = default;

Result<std::unique_ptr<BumpAuthority>> BumpAuthority::load(const Config& config, std::size_t cache_size) {
  std::unique_ptr<BumpAuthority> a(new BumpAuthority());
  Impl& m = *a->impl_;
  m.capacity = std::max<std::size_t>(1, cache_size);
  AWF_TRY_ASSIGN(m.ca, read_certificate(config.ssl_bump_cert));
  AWF_TRY_ASSIGN(m.ca_key, read_key(config.ssl_bump_key));
  ::ERR_clear_error();
  if (::X509_check_private_key(m.ca.get(), m.ca_key.get()) != 1) {
    return Error{"--ssl-bump-key \"" + config.ssl_bump_key + "\" does not match --ssl-bump-cert \"" +
                 config.ssl_bump_cert + "\": " + openssl_reason()};
  }
  if (::X509_check_ca(m.ca.get()) == 0) {
    return Error{"--ssl-bump-cert \"" + config.ssl_bump_cert +
                 "\" is not a CA certificate (no basicConstraints CA:TRUE): clients would refuse what it signs"};
  }
  if (::X509_cmp_current_time(::X509_get0_notAfter(m.ca.get())) <= 0) {
    return Error{"--ssl-bump-cert \"" + config.ssl_bump_cert + "\" has expired"};
  }
  m.leaf_key.reset(::EVP_EC_gen("P-256"));
  if (!m.leaf_key) return Error{"SSL bump: cannot make the key of minted certificates: " + openssl_reason()};

  m.upstream = own(::SSL_CTX_new(::TLS_client_method()));
  if (!m.upstream) return Error{"SSL bump: SSL_CTX_new: " + openssl_reason()};
  ::SSL_CTX_set_min_proto_version(m.upstream.get(), TLS1_2_VERSION);
  ::SSL_CTX_set_verify(m.upstream.get(), SSL_VERIFY_PEER, nullptr);
  if (::SSL_CTX_set_default_verify_paths(m.upstream.get()) != 1) {
    return Error{"SSL bump: cannot load the system's CA store: " + openssl_reason()};
  }
  if (!config.ssl_bump_upstream_ca.empty()) {
    const std::string& path = config.ssl_bump_upstream_ca;
    if (std::FILE* f = std::fopen(path.c_str(), "r")) {
      std::fclose(f);
    } else {
      return Error{"--ssl-bump-upstream-ca \"" + path + "\": cannot open: " + std::strerror(errno)};
    }
    if (::SSL_CTX_load_verify_locations(m.upstream.get(), path.c_str(), nullptr) != 1) {
      return Error{"--ssl-bump-upstream-ca \"" + path + "\": no PEM certificate in it: " + openssl_reason()};
    }
  }
  static const unsigned char kAlpn[] = "\x08http/1.1";
  ::SSL_CTX_set_alpn_protos(m.upstream.get(), kAlpn, sizeof kAlpn - 1);  // 0 is success here

  m.excluded = config.ssl_bump_exclude;
  if (!config.allow_urls.empty()) {
    AWF_TRY_ASSIGN(m.allow_urls, policy::UrlAllowlist::compile(config.allow_urls));
  }
  // A first certificate now: a CA that cannot sign shows at start-up.
  AWF_TRY(m.mint("awf-proxy.invalid"));
  return a;
}

Result<std::shared_ptr<ssl_ctx_st>> BumpAuthority::server_context(const std::string& name) {
  Impl& m = *impl_;
  const auto now = std::chrono::steady_clock::now();
  {
    std::lock_guard lock(m.mutex);
    if (auto it = m.index.find(name); it != m.index.end()) {
      if (now - it->second->minted < kReuseFor) {
        m.lru.splice(m.lru.begin(), m.lru, it->second);
        return it->second->context;
      }
      m.lru.erase(it->second);
      m.index.erase(it);
    }
  }
  // Two threads may mint the same name at once; the later one's stays.
  AWF_TRY_ASSIGN(std::shared_ptr<SSL_CTX> ctx, m.server_context_for(name));
  m.minted.fetch_add(1, std::memory_order_relaxed);
  std::lock_guard lock(m.mutex);
  if (auto it = m.index.find(name); it != m.index.end()) {
    m.lru.erase(it->second);
    m.index.erase(it);
  }
  m.lru.push_front({name, ctx, now});
  m.index[name] = m.lru.begin();
  while (m.lru.size() > m.capacity) {
    m.index.erase(m.lru.back().name);
    m.lru.pop_back();
  }
  return ctx;
}

ssl_ctx_st* BumpAuthority::upstream_context() const { return impl_->upstream.get(); }

bool BumpAuthority::is_excluded(std::string_view host) const { return bypasses(impl_->excluded, host); }

const policy::UrlAllowlist* BumpAuthority::allow_urls() const { return impl_->allow_urls.get(); }

bool BumpAuthority::lifts_block(const policy::Decision& d, std::string_view host) const {
  return impl_->allow_urls && d.reason == policy::Reason::blocklisted && !is_excluded(host);
}

std::size_t BumpAuthority::cached_certificates() const {
  std::lock_guard lock(impl_->mutex);
  return impl_->lru.size();
}

std::size_t BumpAuthority::minted_certificates() const { return impl_->minted.load(std::memory_order_relaxed); }

}  // namespace awf::proxy
