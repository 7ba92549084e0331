// SPDX-License-Identifier: Apache-2.0
// ELF kernel loading: a vmlinux or a freestanding test guest, entered through its PVH note or,
// for an ELF64 without one, through Linux's 64-bit entry at e_entry.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot {

/// Xen's public/elfnote.h: the 32-bit physical entry point of a PVH kernel.
inline constexpr uint32_t kElfNotePhys32Entry = 18;

struct ElfSegment {
    uint64_t file_offset;
    uint64_t file_size;
    uint64_t memory_size;
    uint64_t physical_address;
};

struct ElfKernel {
    std::optional<uint64_t> pvh_entry;  // from the PVH note, when there is one
    uint64_t entry;                     // e_entry: a vmlinux's physical 64-bit entry (startup_64)
    bool is64;
    std::vector<ElfSegment> segments;
    uint64_t end;  // first byte past the highest segment
};

/// Validates an ELF32 or ELF64 x86 executable: headers and every segment inside the file,
/// no arithmetic overflow, segments at or above 1 MiB, entry points below the MMIO hole. An
/// ELF64 may lack the PVH note (it is then entered at e_entry); an ELF32 needs it. Pure: no I/O.
Result<ElfKernel> parse_elf_kernel(std::span<uint8_t const> image);

/// parse_elf_kernel, then copies each segment to its physical address and zeroes the rest of
/// its memory size. Fails (Image) when a segment or the entry point is not in guest RAM.
Result<ElfKernel> load_elf_kernel(GuestMemory const& memory, std::span<uint8_t const> image);

}  // namespace vmm::boot
