// SPDX-License-Identifier: Apache-2.0
// GuestMemory: the guest's RAM as host mappings, with one overflow-proof range check that every
// guest-controlled address goes through.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <span>
#include <type_traits>
#include <vector>

#include "vmm/base/memory_mapping.h"
#include "vmm/base/result.h"

namespace vmm {

struct GuestAddress {
    uint64_t value = 0;
    auto operator<=>(GuestAddress const&) const = default;
};

/// Types that may be copied to and from guest memory byte for byte.
template <class T>
concept GuestPod = std::is_trivially_copyable_v<T> && std::has_unique_object_representations_v<T>;

enum class MemoryError : uint8_t { OutOfRange };

/// True when [address, address + length) lies inside [start, start + size); never overflows.
constexpr bool range_contains(uint64_t start, uint64_t size, uint64_t address, uint64_t length) {
    if (address < start) return false;
    uint64_t const offset = address - start;
    return offset <= size && length <= size - offset;
}

class GuestMemory {
public:
    struct Region {
        GuestAddress start;
        MemoryMapping mapping;
        uint64_t size() const { return mapping.size(); }
    };
    struct RegionSpec {
        GuestAddress start;
        uint64_t size;
    };

    /// Maps each region (MAP_NORESERVE). Regions must be page-aligned, sorted and disjoint.
    static Result<GuestMemory> create(std::span<RegionSpec const> layout);

    /// Host view of [address, address + length) if it lies inside one region.
    std::optional<std::span<uint8_t>> slice(GuestAddress address, uint64_t length) const;
    Result<void, MemoryError> read(GuestAddress address, std::span<uint8_t> out) const;
    Result<void, MemoryError> write(GuestAddress address, std::span<uint8_t const> in) const;

    template <GuestPod T>
    Result<T, MemoryError> read_obj(GuestAddress address) const {
        T value;
        auto r = read(address, std::span(reinterpret_cast<uint8_t*>(&value), sizeof value));
        if (!r) return std::unexpected(r.error());
        return value;
    }
    template <GuestPod T>
    Result<void, MemoryError> write_obj(GuestAddress address, T const& value) const {
        return write(address, std::span(reinterpret_cast<uint8_t const*>(&value), sizeof value));
    }

    std::span<Region const> regions() const { return m_regions; }
    /// Bytes of guest RAM in all regions.
    uint64_t total_size() const;

private:
    explicit GuestMemory(std::vector<Region> regions) : m_regions(std::move(regions)) {}
    std::vector<Region> m_regions;
};

}  // namespace vmm
