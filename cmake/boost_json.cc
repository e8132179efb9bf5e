// Boost.JSON's compiled part, built once for the whole project (the
// awf_boost_json target): every library that parses JSON links it, so no
// program carries two copies.
#include <boost/json/src.hpp>
