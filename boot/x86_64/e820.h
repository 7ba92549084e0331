// SPDX-License-Identifier: Apache-2.0
// The E820-style memory map given to the guest (through hvm_start_info or boot_params).
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

enum class E820Type : uint32_t { Ram = 1, Reserved = 2 };

struct E820Entry {
    uint64_t address;
    uint64_t size;
    E820Type type;
    bool operator==(E820Entry const&) const = default;
};

/// RAM below the EBDA, RAM from 1 MiB to the end of the first region, every further region;
/// the legacy area 640 KiB-1 MiB is reported reserved.
std::vector<E820Entry> build_e820(std::span<GuestMemory::Region const> regions);

}  // namespace vmm::boot::x86_64
