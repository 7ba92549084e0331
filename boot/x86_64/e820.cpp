// SPDX-License-Identifier: Apache-2.0
// E820 map construction.
#include "boot/x86_64/e820.h"

#include "boot/x86_64/layout.h"

namespace vmm::boot::x86_64 {

std::vector<E820Entry> build_e820(std::span<GuestMemory::Region const> regions) {
    std::vector<E820Entry> map;
    for (auto const& region : regions) {
        uint64_t const start = region.start.value;
        uint64_t const end = start + region.size();
        if (start == 0) {
            map.push_back({0, std::min(end, kEbdaStart), E820Type::Ram});
            if (end > kEbdaStart)
                map.push_back({kEbdaStart, kHighMemoryStart - kEbdaStart, E820Type::Reserved});
            if (end > kHighMemoryStart)
                map.push_back({kHighMemoryStart, end - kHighMemoryStart, E820Type::Ram});
        } else {
            map.push_back({start, region.size(), E820Type::Ram});
        }
    }
    return map;
}

}  // namespace vmm::boot::x86_64
