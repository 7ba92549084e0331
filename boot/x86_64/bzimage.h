// SPDX-License-Identifier: Apache-2.0
// bzImage loading (Documentation/x86/boot.rst, protocol 2.06+): the setup header checked, the
// protected-mode kernel copied to its load address, entered at its 32- or 64-bit entry.
#pragma once

#include <cstdint>
#include <span>

#include "boot/x86_64/boot_params.h"
#include "boot/x86_64/cpu_setup.h"
#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

/// The oldest boot protocol accepted: 2.06 is the first with cmdline_size.
inline constexpr uint16_t kMinBootProtocol = 0x0206;

struct BzImage {
    SetupHeader header;      // as in the image; bytes past the header's declared end are zero
    uint64_t kernel_offset;  // file offset of the protected-mode kernel: (setup_sects + 1) * 512
    uint64_t kernel_size;    // its bytes in the file
    uint64_t load_address;   // pref_address when relocatable (2.10+), else 1 MiB
    EntryMode mode;          // Linux64 with XLF_KERNEL_64, else Linux32
    uint64_t entry;          // load_address + 0x200 (64-bit) or load_address (32-bit)
    uint64_t end;            // first byte past the memory the kernel uses while it boots
    uint32_t cmdline_size;   // the longest command line, without its NUL
    uint64_t initrd_limit;   // first byte the initrd must not reach: initrd_addr_max + 1
};

/// True when the image carries the setup header's "HdrS" at 0x202.
bool has_setup_header(std::span<uint8_t const> image);

/// Validates a bzImage: size, boot flag, "HdrS", protocol >= 2.06, header length, LOADED_HIGH,
/// the setup sectors inside the file, kernel_alignment, pref_address and init_size (no
/// overflow, nothing in the MMIO hole). Pure: no I/O. Fails with ErrorKind::Image.
Result<BzImage> parse_bzimage(std::span<uint8_t const> image);

/// parse_bzimage, then copies the protected-mode kernel to its load address. Fails (Image,
/// naming --memory) when [load_address, end) is not inside guest RAM below the MMIO hole.
Result<BzImage> load_bzimage(GuestMemory const& memory, std::span<uint8_t const> image);

}  // namespace vmm::boot::x86_64
