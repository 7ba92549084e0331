// SPDX-License-Identifier: Apache-2.0
// Bus: maps address ranges (MMIO or port I/O) to devices. Built before vCPUs start, then
// read-only, so lookups take no lock; each device serialises its own state.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <memory>
#include <span>

#include "vmm/base/result.h"

namespace vmm {

class BusDevice {
public:
    virtual ~BusDevice() = default;
    /// Fill all of data; offset is relative to the range's base. Called from vCPU threads.
    virtual void read(uint64_t offset, std::span<uint8_t> data) = 0;
    virtual void write(uint64_t offset, std::span<uint8_t const> data) = 0;
};

class Bus {
public:
    /// Rejects an empty range, one that wraps past UINT64_MAX, and any overlap.
    Result<void> insert(std::shared_ptr<BusDevice> device, uint64_t base, uint64_t length);
    /// False when nothing is mapped there or the access does not fit wholly inside one range.
    bool read(uint64_t address, std::span<uint8_t> data) const;
    bool write(uint64_t address, std::span<uint8_t const> data) const;

private:
    struct Entry {
        uint64_t last;  // inclusive, so a range may end at UINT64_MAX
        std::shared_ptr<BusDevice> device;
    };
    struct Hit {
        BusDevice* device;
        uint64_t offset;
    };
    std::optional<Hit> find(uint64_t address, size_t length) const;
    std::map<uint64_t, Entry> m_ranges;  // key: base
};

}  // namespace vmm
