// SPDX-License-Identifier: Apache-2.0
// Small helpers shared by the benchmark tools: clocks in nanoseconds and the median.
#pragma once

#include <algorithm>
#include <cstdint>
#include <ctime>
#include <optional>
#include <vector>

namespace bench {

inline int64_t now_ns(clockid_t clock = CLOCK_MONOTONIC) {
    timespec ts{};
    clock_gettime(clock, &ts);
    return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

inline std::optional<double> median(std::vector<double> values) {
    if (values.empty()) return std::nullopt;
    std::ranges::sort(values);
    size_t const n = values.size();
    return n % 2 ? values[n / 2] : (values[n / 2 - 1] + values[n / 2]) / 2;
}

}  // namespace bench
