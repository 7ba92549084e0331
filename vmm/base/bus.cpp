// SPDX-License-Identifier: Apache-2.0
// Bus implementation.
#include "vmm/base/bus.h"

namespace vmm {

Result<void> Bus::insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t length) {
    if (length == 0) return fail(ErrorKind::Host, fmt::format("bus range at {:#x} is empty", base));
    if (base + (length - 1) < base)
        return fail(ErrorKind::Host, fmt::format("bus range {:#x}+{:#x} wraps", base, length));
    uint64_t last = base + (length - 1);
    auto next = m_ranges.lower_bound(base);
    if (next != m_ranges.end() && next->first <= last)
        return fail(ErrorKind::Host, fmt::format("bus range {:#x}-{:#x} overlaps {:#x}", base,
                                                 last, next->first));
    if (next != m_ranges.begin() && std::prev(next)->second.last >= base)
        return fail(ErrorKind::Host, fmt::format("bus range {:#x}-{:#x} overlaps {:#x}", base,
                                                 last, std::prev(next)->first));
    m_ranges.emplace(base, Entry{last, std::move(device)});
    return {};
}

std::optional<Bus::Hit> Bus::find(uint64_t address, size_t length) const {
    if (length == 0) return std::nullopt;
    auto it = m_ranges.upper_bound(address);
    if (it == m_ranges.begin()) return std::nullopt;
    --it;
    uint64_t const base = it->first;
    uint64_t const last = it->second.last;
    if (address > last) return std::nullopt;
    // The whole access must fit: last - address >= length - 1, written without overflow.
    if (last - address < length - 1) return std::nullopt;
    return Hit{it->second.device.get(), address - base};
}

bool Bus::read(uint64_t address, std::span<uint8_t> data) const {
    auto hit = find(address, data.size());
    if (!hit) return false;
    hit->device->read(hit->offset, data);
    return true;
}

bool Bus::write(uint64_t address, std::span<uint8_t const> data) const {
    auto hit = find(address, data.size());
    if (!hit) return false;
    hit->device->write(hit->offset, data);
    return true;
}

}  // namespace vmm
