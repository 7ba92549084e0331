// SPDX-License-Identifier: Apache-2.0
// Byte sizes: literals and the parser for user-given sizes such as "128M" or "2G".
#pragma once

#include <cstdint>
#include <string_view>

#include "vmm/base/result.h"

namespace vmm {

constexpr uint64_t operator""_KiB(unsigned long long v) { return v << 10; }
constexpr uint64_t operator""_MiB(unsigned long long v) { return v << 20; }
constexpr uint64_t operator""_GiB(unsigned long long v) { return v << 30; }

/// "128M", "128MiB", "2G", "4096K", "1T"; a bare number means MiB (as QEMU's -m and
/// Firecracker's mem_size_mib). Binary units. Rejects overflow, fractions and junk.
Result<uint64_t> parse_size(std::string_view text);

}  // namespace vmm
