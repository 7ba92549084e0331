// SPDX-License-Identifier: Apache-2.0
// GuestMemory implementation.
#include "vmm/memory/guest_memory.h"

#include <unistd.h>

namespace vmm {

Result<GuestMemory> GuestMemory::create(std::span<RegionSpec const> layout) {
    uint64_t const page = static_cast<uint64_t>(::sysconf(_SC_PAGESIZE));
    std::vector<Region> regions;
    uint64_t previous_end = 0;
    for (auto const& spec : layout) {
        if (spec.size == 0 || spec.start.value % page != 0 || spec.size % page != 0 ||
            spec.start.value + spec.size < spec.start.value || spec.start.value < previous_end)
            return fail(ErrorKind::Host, fmt::format("bad guest memory region {:#x}+{:#x}",
                                                     spec.start.value, spec.size));
        previous_end = spec.start.value + spec.size;
        auto mapping = TRY(MemoryMapping::anonymous(spec.size));
        regions.push_back(Region{spec.start, std::move(mapping)});
    }
    return GuestMemory(std::move(regions));
}

std::optional<std::span<uint8_t>> GuestMemory::slice(GuestAddress address, uint64_t length) const {
    for (auto const& region : m_regions) {
        if (range_contains(region.start.value, region.size(), address.value, length)) {
            uint64_t offset = address.value - region.start.value;
            return std::span<uint8_t>(region.mapping.data() + offset, length);
        }
    }
    return std::nullopt;
}

Result<void, MemoryError> GuestMemory::read(GuestAddress address, std::span<uint8_t> out) const {
    auto host = slice(address, out.size());
    if (!host) return std::unexpected(MemoryError::OutOfRange);
    if (!out.empty()) std::memcpy(out.data(), host->data(), out.size());
    return {};
}

Result<void, MemoryError> GuestMemory::write(GuestAddress address,
                                             std::span<uint8_t const> in) const {
    auto host = slice(address, in.size());
    if (!host) return std::unexpected(MemoryError::OutOfRange);
    if (!in.empty()) std::memcpy(host->data(), in.data(), in.size());
    return {};
}

uint64_t GuestMemory::total_size() const {
    uint64_t total = 0;
    for (auto const& region : m_regions) total += region.size();
    return total;
}

}  // namespace vmm
