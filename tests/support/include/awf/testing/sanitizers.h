// AWF_UNDER_ASAN is defined when this translation unit is built with
// AddressSanitizer (gcc and clang alike). Tests that read glibc's heap figures
// skip there: ASan's allocator replaces glibc's arenas.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define AWF_UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define AWF_UNDER_ASAN 1
#endif
#endif
