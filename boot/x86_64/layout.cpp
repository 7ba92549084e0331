// SPDX-License-Identifier: Apache-2.0
// Guest memory layout.
#include "boot/x86_64/layout.h"

#include <algorithm>

namespace vmm::boot::x86_64 {

Result<std::vector<GuestMemory::RegionSpec>> memory_layout(uint64_t memory_size) {
    if (memory_size < kMinMemory || memory_size > kMaxMemory)
        return fail(ErrorKind::Usage,
                    fmt::format("--memory {} MiB is out of range: use {} MiB to {} GiB",
                                memory_size >> 20, kMinMemory >> 20, kMaxMemory >> 30));
    if (memory_size % 4096 != 0)
        return fail(ErrorKind::Usage, "--memory must be a multiple of 4 KiB");
    std::vector<GuestMemory::RegionSpec> regions;
    uint64_t const low = std::min(memory_size, kMmioHoleStart);
    regions.push_back({GuestAddress{0}, low});
    if (memory_size > low) regions.push_back({GuestAddress{kMmioHoleEnd}, memory_size - low});
    return regions;
}

}  // namespace vmm::boot::x86_64
