// Cutting `ech` SvcParams out of HTTPS/SVCB records on the wire, with the
// compression pointers behind each cut moved along.
#include "awf/intercept/dns_ech.h"

#include <algorithm>
#include <optional>

#include "awf/intercept/dns_message.h"

namespace awf::intercept {

const char* to_string(EchStripError error) {
  switch (error) {
    case EchStripError::truncated: return "truncated";
    case EchStripError::bad_label: return "bad_label";
    case EchStripError::bad_pointer: return "bad_pointer";
    case EchStripError::pointer_into_cut: return "pointer_into_cut";
  }
  return "unknown";
}

namespace {

using Bytes = std::span<const std::uint8_t>;

std::uint16_t read16(Bytes m, std::size_t at) { return static_cast<std::uint16_t>((m[at] << 8) | m[at + 1]); }

void write16(std::vector<std::uint8_t>& m, std::size_t at, std::size_t v) {
  m[at] = static_cast<std::uint8_t>((v >> 8) & 0xff);
  m[at + 1] = static_cast<std::uint8_t>(v & 0xff);
}

struct Walk {
  std::optional<EchStripError> error;
  std::vector<std::size_t> pointers;  // offsets of every compression pointer met in a name
};

// Skips the name at `pos` (ending at `end`), noting where its pointer is.
std::optional<std::size_t> skip_name(Bytes m, std::size_t pos, std::size_t end, Walk& walk) {
  for (;;) {
    if (pos >= end) {
      walk.error = EchStripError::truncated;
      return std::nullopt;
    }
    const std::uint8_t len = m[pos];
    if (len == 0) return pos + 1;
    if ((len & 0xc0) == 0xc0) {
      if (pos + 2 > end) {
        walk.error = EchStripError::truncated;
        return std::nullopt;
      }
      if (static_cast<std::size_t>(read16(m, pos) & 0x3fff) >= m.size()) {
        walk.error = EchStripError::bad_pointer;
        return std::nullopt;
      }
      walk.pointers.push_back(pos);
      return pos + 2;
    }
    if ((len & 0xc0) != 0) {
      walk.error = EchStripError::bad_label;
      return std::nullopt;
    }
    pos += 1 + len;
  }
}

// Where the names sit in the RDATA of the types whose names may be
// compressed: RFC 1035's, and those RFC 3597 §4 tells receivers to
// decompress. Other types' RDATA is opaque here (RFC 3597: never compressed).
struct RdataNames {
  std::size_t offset = 0;        // fixed bytes before the first name
  std::size_t names = 0;         // names in a row
  std::size_t char_strings = 0;  // <character-string>s between `offset` and the names (NAPTR)
};

std::optional<RdataNames> rdata_names(std::uint16_t type) {
  switch (type) {
    case 2: case 3: case 4: case 5: case 7: case 8: case 9: case 12:  // NS MD MF CNAME MB MG MR PTR
    case 30:                                                          // NXT (then a bitmap)
      return RdataNames{0, 1, 0};
    case 6: case 14: case 17: return RdataNames{0, 2, 0};  // SOA (then 20 bytes), MINFO, RP
    case 15: case 18: case 21: return RdataNames{2, 1, 0};  // MX AFSDB RT
    case 26: return RdataNames{2, 2, 0};                    // PX
    case 33: return RdataNames{6, 1, 0};                    // SRV
    case 24: return RdataNames{18, 1, 0};                   // SIG (then the signature)
    case 35: return RdataNames{4, 1, 3};                    // NAPTR: flags, services, regexp, replacement
    default: return std::nullopt;
  }
}

// What must happen to one HTTPS/SVCB record.
struct SvcbEdit {
  bool drop = false;
  std::vector<std::pair<std::size_t, std::size_t>> cuts;  // [begin, end) of each ech SvcParam
};

// RFC 9460 §2.2: SvcPriority, an uncompressed TargetName, then SvcParams in
// strictly increasing key order, each wholly inside RDATA. Anything else is
// malformed and the record is dropped: a client must not get to interpret it.
SvcbEdit edit_svcb(Bytes m, std::size_t rdata, std::size_t end) {
  SvcbEdit edit;
  if (end - rdata < 3) return {true, {}};
  std::size_t pos = rdata + 2;
  for (;;) {  // TargetName: labels only
    if (pos >= end) return {true, {}};
    const std::uint8_t len = m[pos];
    if (len == 0) {
      ++pos;
      break;
    }
    if ((len & 0xc0) != 0) return {true, {}};
    pos += 1 + len;
  }
  long previous_key = -1;
  while (pos < end) {
    if (end - pos < 4) return {true, {}};
    const std::uint16_t key = read16(m, pos);
    const std::size_t length = read16(m, pos + 2);
    if (static_cast<long>(key) <= previous_key || end - pos - 4 < length) return {true, {}};
    previous_key = key;
    if (key == kSvcParamMandatory) {
      if (length % 2 != 0) return {true, {}};
      for (std::size_t i = 0; i < length; i += 2) {
        if (read16(m, pos + 4 + i) == kSvcParamEch) return {true, {}};
      }
    }
    if (key == kSvcParamEch) edit.cuts.emplace_back(pos, pos + 4 + length);
    pos += 4 + length;
  }
  return edit;
}

struct Record {
  std::size_t begin = 0, rdlength_at = 0, rdata = 0, end = 0;
  int section = 0;  // 0 answer, 1 authority, 2 additional
  std::uint16_t type = 0;
};

}  // namespace

EchStrip strip_ech_configs(Bytes m) {
  EchStrip out;
  auto fail = [&out](EchStripError e) {
    out.status = EchStrip::Status::error;
    out.error = e;
    out.wire.clear();
    return out;
  };
  if (m.size() < kDnsHeaderBytes) return fail(EchStripError::truncated);
  Walk walk;
  std::size_t pos = kDnsHeaderBytes;
  for (std::size_t i = read16(m, 4); i > 0; --i) {  // QDCOUNT
    auto next = skip_name(m, pos, m.size(), walk);
    if (!next) return fail(*walk.error);
    pos = *next + 4;
    if (pos > m.size()) return fail(EchStripError::truncated);
  }
  std::vector<Record> records;
  bool has_svcb = false;
  std::optional<EchStripError> rdata_error;
  for (int section = 0; section < 3; ++section) {
    for (std::size_t i = read16(m, 6 + 2 * static_cast<std::size_t>(section)); i > 0; --i) {
      Record r;
      r.begin = pos;
      r.section = section;
      auto next = skip_name(m, pos, m.size(), walk);
      if (!next) return fail(*walk.error);
      pos = *next;
      if (m.size() - pos < 10) return fail(EchStripError::truncated);
      r.type = read16(m, pos);
      r.rdlength_at = pos + 8;
      r.rdata = pos + 10;
      const std::size_t rdlength = read16(m, r.rdlength_at);
      if (m.size() - r.rdata < rdlength) return fail(EchStripError::truncated);
      r.end = r.rdata + rdlength;
      // A name in RDATA that does not read only matters if bytes before
      // its pointers move: the message is then refused, not guessed at.
      if (const auto names = rdata_names(r.type); names && !rdata_error) {
        std::size_t at = r.rdata + names->offset;
        for (std::size_t s = 0; s < names->char_strings && at < r.end; ++s) at += 1 + m[at];
        for (std::size_t n = 0; n < names->names && !rdata_error; ++n) {
          auto after = skip_name(m, at, r.end, walk);
          if (!after) rdata_error = walk.error;
          else at = *after;
        }
      }
      has_svcb = has_svcb || r.type == kDnsTypeHttps || r.type == kDnsTypeSvcb;
      records.push_back(r);
      pos = r.end;
    }
  }
  if (!has_svcb) return out;

  // Every range to cut, in message order, and the records to shorten.
  std::vector<std::pair<std::size_t, std::size_t>> cuts;
  std::vector<std::pair<const Record*, std::size_t>> shortened;  // record, bytes cut from its RDATA
  std::size_t dropped_in[3] = {0, 0, 0};
  for (const Record& r : records) {
    if (r.type != kDnsTypeHttps && r.type != kDnsTypeSvcb) continue;
    SvcbEdit edit = edit_svcb(m, r.rdata, r.end);
    if (edit.drop) {
      cuts.emplace_back(r.begin, r.end);
      ++dropped_in[r.section];
      ++out.records_dropped;
      continue;
    }
    std::size_t cut_bytes = 0;
    for (const auto& c : edit.cuts) {
      cuts.push_back(c);
      cut_bytes += c.second - c.first;
      ++out.params_removed;
    }
    if (cut_bytes) shortened.emplace_back(&r, cut_bytes);
  }
  if (cuts.empty()) return out;
  if (rdata_error) return fail(*rdata_error);

  // Bytes removed before `offset`; nullopt when `offset` itself is removed.
  auto removed_before = [&cuts](std::size_t offset) -> std::optional<std::size_t> {
    std::size_t removed = 0;
    for (const auto& [begin, end] : cuts) {
      if (offset < begin) break;
      if (offset < end) return std::nullopt;
      removed += end - begin;
    }
    return removed;
  };

  std::vector<std::uint8_t>& w = out.wire;
  w.reserve(m.size());
  std::size_t from = 0;
  for (const auto& [begin, end] : cuts) {
    w.insert(w.end(), m.begin() + static_cast<std::ptrdiff_t>(from), m.begin() + static_cast<std::ptrdiff_t>(begin));
    from = end;
  }
  w.insert(w.end(), m.begin() + static_cast<std::ptrdiff_t>(from), m.end());

  for (int section = 0; section < 3; ++section) {
    const std::size_t at = 6 + 2 * static_cast<std::size_t>(section);
    write16(w, at, read16(m, at) - dropped_in[section]);
  }
  for (const auto& [record, cut_bytes] : shortened) {
    const std::size_t at = record->rdlength_at - *removed_before(record->rdlength_at);
    write16(w, at, read16(m, record->rdlength_at) - cut_bytes);
  }
  for (std::size_t p : walk.pointers) {
    const auto shift = removed_before(p);
    if (!shift) continue;  // the pointer went with its record
    const std::size_t target = read16(m, p) & 0x3fff;
    const auto target_shift = removed_before(target);
    if (!target_shift) return fail(EchStripError::pointer_into_cut);
    write16(w, p - *shift, 0xc000 | (target - *target_shift));
  }
  out.status = EchStrip::Status::rewritten;
  return out;
}

}  // namespace awf::intercept
