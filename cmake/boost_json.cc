// Boost.JSON's compiled part, built into awf_logs once (header-only mode).
#include <boost/json/src.hpp>
