// Unit tests of the chunked request-body decoder the API proxy buffers
// bodies with: every split of valid input decodes the same, broken framing
// is an error, and the size cap keeps at most one byte past the limit.
#include <gtest/gtest.h>

#include "awf/proxy/chunked_decoder.h"

using awf::proxy::ChunkedDecoder;

namespace {

struct Decoded {
  std::string body;
  std::size_t used = 0;
  bool done = false;
  bool failed = false;
};

// Feeds `wire` in two pieces split at `split`, as two reads would.
Decoded decode(std::string_view wire, std::size_t split, std::size_t limit = 1 << 20) {
  ChunkedDecoder d;
  Decoded out;
  out.used = d.feed(wire.substr(0, split), out.body, limit);
  if (!d.done() && !d.failed() && out.used == split) out.used += d.feed(wire.substr(split), out.body, limit);
  out.done = d.done();
  out.failed = d.failed();
  return out;
}

TEST(ChunkedDecoder, EverySplitOfValidInputDecodesTheSame) {
  const std::string wire = "5;ext=1\r\nhello\r\n1A\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\nX-Trailer: t\r\n\r\nNEXT";
  for (std::size_t split = 0; split <= wire.size(); ++split) {
    const Decoded d = decode(wire, split);
    ASSERT_TRUE(d.done) << "split at " << split;
    EXPECT_EQ(d.body, "helloabcdefghijklmnopqrstuvwxyz") << split;
    EXPECT_EQ(d.used, wire.size() - 4) << "the next request's bytes are left alone, split at " << split;
  }
}

TEST(ChunkedDecoder, NeedsMoreUntilTheLastChunkAndTheFinalLine) {
  ChunkedDecoder d;
  std::string body;
  EXPECT_EQ(d.feed("3\r\nabc\r\n0\r\n", body, 100), 11u);
  EXPECT_FALSE(d.done());
  EXPECT_FALSE(d.failed());
  EXPECT_EQ(d.feed("\r\n", body, 100), 2u);
  EXPECT_TRUE(d.done());
  EXPECT_EQ(body, "abc");
}

TEST(ChunkedDecoder, BrokenFramingIsAnError) {
  struct Case {
    const char* why;
    std::string wire;
  };
  const Case cases[] = {
      {"no size digits", "\r\nabc\r\n0\r\n\r\n"},
      {"a size that is not hex", "g\r\nabc\r\n0\r\n\r\n"},
      {"more than 16 size digits", "00000000000000001\r\na\r\n0\r\n\r\n"},
      {"bare LF after the size", "3\nabc\r\n0\r\n\r\n"},
      {"data longer than its size", "3\r\nabcd\r\n0\r\n\r\n"},
      {"bare LF after the data", "3\r\nabc\n0\r\n\r\n"},
      {"bare LF ending the trailers", "0\r\n\n"},
      {"a bare LF in a trailer", "0\r\nX: y\n\r\n"},
      {"an extension over its limit", "1;" + std::string(ChunkedDecoder::kMaxExtensionBytes + 1, 'e') + "\r\na\r\n0\r\n\r\n"},
      {"trailers over their limit",
       "0\r\nX: " + std::string(ChunkedDecoder::kMaxTrailerBytes + 1, 't') + "\r\n\r\n"},
  };
  for (const auto& c : cases) {
    std::string body;
    ChunkedDecoder d;
    d.feed(c.wire, body, 1 << 20);
    EXPECT_TRUE(d.failed()) << c.why;
    EXPECT_FALSE(d.done()) << c.why;
  }
}

TEST(ChunkedDecoder, KeepsAtMostOneBytePastTheLimit) {
  const std::string data(100, 'x');
  const std::string wire = "64\r\n" + data + "\r\n64\r\n" + data + "\r\n0\r\n\r\n";
  std::string body;
  ChunkedDecoder d;
  d.feed(wire, body, 150);
  EXPECT_EQ(body.size(), 151u);  // over the limit by one: the caller refuses it
  EXPECT_TRUE(d.done());         // the framing is still followed to its end

  std::string exact;
  ChunkedDecoder e;
  e.feed(wire, exact, 200);
  EXPECT_EQ(exact.size(), 200u);
  EXPECT_TRUE(e.done());
}

// The forward proxy's scanner and the API proxy's decoder once read
// different grammars (the chunked fuzz target compares them): each of these
// bodies was accepted by one and refused by the other. Now the decoder is
// the scanner with a data sink, and they frame every body alike.
TEST(ChunkedDecoder, FramesEveryBodyAsTheForwardProxyScannerDoes) {
  struct Case {
    const char* why;
    std::string wire;
    bool ok;
  };
  const Case cases[] = {
      {"16 size digits (the scanner stopped at 15)", "000000000000000F\r\n0123456789abcde\r\n0\r\n\r\n", true},
      {"whitespace then no extension (the decoder took it as one)", "3 x\r\nabc\r\n0\r\n\r\n", false},
      {"whitespace before an extension", "3 \t;a=b\r\nabc\r\n0\r\n\r\n", true},
      {"a control byte in an extension (the decoder took it)", "3;a\x01\r\nabc\r\n0\r\n\r\n", false},
      {"an extension over its limit (the scanner had none)",
       "1;" + std::string(ChunkedDecoder::kMaxExtensionBytes + 1, 'e') + "\r\na\r\n0\r\n\r\n", false},
      {"an extension at its limit", "1;" + std::string(ChunkedDecoder::kMaxExtensionBytes, 'e') + "\r\na\r\n0\r\n\r\n",
       true},
      {"obs-fold in the trailers (the decoder took it)", "0\r\nX: y\r\n z\r\n\r\n", false},
      {"trailer lines at the limit, first bytes counted (the scanner skipped them)",
       "0\r\n" + std::string(ChunkedDecoder::kMaxTrailerBytes / 2 - 1, 'x') + "\r\n" +
           std::string(ChunkedDecoder::kMaxTrailerBytes / 2 - 1, 'y') + "\r\n\r\n",
       true},
      {"trailer lines one byte over the limit",
       "0\r\n" + std::string(ChunkedDecoder::kMaxTrailerBytes / 2, 'x') + "\r\n" +
           std::string(ChunkedDecoder::kMaxTrailerBytes / 2 - 1, 'y') + "\r\n\r\n",
       false},
  };
  for (const auto& c : cases) {
    std::string body;
    ChunkedDecoder d;
    const std::size_t used = d.feed(c.wire, body, 1 << 20);
    awf::proxy::ChunkedScanner s;
    const std::size_t scanned = s.feed(c.wire.data(), c.wire.size());
    EXPECT_EQ(d.done(), c.ok) << c.why;
    EXPECT_EQ(s.done(), c.ok) << c.why;
    EXPECT_EQ(d.failed(), !c.ok) << c.why;
    EXPECT_EQ(s.failed(), !c.ok) << c.why;
    if (c.ok) {
      EXPECT_EQ(used, scanned) << c.why;
    }
  }
}

}  // namespace
