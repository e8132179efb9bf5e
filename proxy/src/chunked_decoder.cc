// The chunked body decoder of the API proxy: the forward proxy's scanner
// (http_head.cc) with a sink for the data (see chunked_decoder.h).
#include "awf/proxy/chunked_decoder.h"

namespace awf::proxy {

std::size_t ChunkedDecoder::feed(std::string_view in, std::string& out, std::size_t out_limit) {
  return scanner_.feed(in.data(), in.size(), &out, out_limit);
}

}  // namespace awf::proxy
