// SPDX-License-Identifier: Apache-2.0
// Initrd placement.
#include "boot/initrd.h"

#include <algorithm>
#include <cstring>

#include "boot/x86_64/layout.h"

namespace vmm::boot {

Result<uint64_t> place_initrd(GuestMemory const& memory, uint64_t size, uint64_t kernel_end,
                              uint64_t limit) {
    constexpr uint64_t kPage = 4096;
    auto regions = memory.regions();
    uint64_t const low_end = regions.empty() ? 0 : regions.front().start.value + regions.front().size();
    uint64_t const top = std::min({low_end, limit, x86_64::kMmioHoleStart});
    uint64_t const floor = std::max(kernel_end, x86_64::kHighMemoryStart);
    if (size == 0 || size > top || ((top - size) & ~(kPage - 1)) < floor)
        return fail(ErrorKind::Image,
                    fmt::format("the initrd ({} KiB) does not fit in guest RAM between the kernel "
                                "(ends at {:#x}) and {:#x}: give the guest more --memory",
                                (size + 1023) / 1024, floor, top));
    return (top - size) & ~(kPage - 1);
}

Result<x86_64::LoadedModule> load_initrd(GuestMemory const& memory, std::span<uint8_t const> data,
                                         uint64_t kernel_end, uint64_t limit) {
    uint64_t const address = TRY(place_initrd(memory, data.size(), kernel_end, limit));
    auto target = memory.slice(GuestAddress{address}, data.size());
    if (!target) return fail(ErrorKind::Image, "the initrd does not fit in guest RAM");
    std::memcpy(target->data(), data.data(), data.size());
    return x86_64::LoadedModule{address, data.size()};
}

}  // namespace vmm::boot
