# Every third-party library awf uses, found once here. scripts/install-deps.sh
# installs all of them from Debian 12.
find_package(PkgConfig REQUIRED)
find_package(Threads REQUIRED)

find_package(Boost 1.81 REQUIRED)                       # Asio, Beast and JSON are used header-only
find_package(OpenSSL REQUIRED)
find_package(yaml-cpp REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(CLI11 REQUIRED)
find_package(GTest REQUIRED)
find_package(benchmark REQUIRED)

pkg_check_modules(RE2 REQUIRED IMPORTED_TARGET re2)
pkg_check_modules(LIBCAP REQUIRED IMPORTED_TARGET libcap)
pkg_check_modules(SECCOMP REQUIRED IMPORTED_TARGET libseccomp)
pkg_check_modules(NFTABLES REQUIRED IMPORTED_TARGET libnftables)
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
pkg_check_modules(LDNS REQUIRED IMPORTED_TARGET ldns)

# Boost.Asio as a compiled-once library target: consumers define nothing themselves.
add_library(awf_asio INTERFACE)
target_link_libraries(awf_asio INTERFACE Boost::headers Threads::Threads)
target_compile_definitions(awf_asio INTERFACE BOOST_ASIO_NO_DEPRECATED BOOST_BEAST_USE_STD_STRING_VIEW)

# Boost.JSON's compiled part as one small library: awf_logs and awf_api
# both link it, and a program linking both still gets one copy.
add_library(awf_boost_json STATIC ${CMAKE_CURRENT_LIST_DIR}/boost_json.cc)
target_link_libraries(awf_boost_json PUBLIC Boost::headers)
