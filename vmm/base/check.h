// SPDX-License-Identifier: Apache-2.0
// VMM_CHECK: aborts on a broken invariant of ours. Never reachable from guest input.
#pragma once

#include <cstdio>
#include <cstdlib>

#define VMM_CHECK(condition, message)                                                   \
    do {                                                                                \
        if (!(condition)) [[unlikely]] {                                                \
            std::fprintf(stderr, "wisp: internal error at %s:%d: %s\n", __FILE__,       \
                         __LINE__, (message));                                          \
            std::abort();                                                               \
        }                                                                               \
    } while (0)
