// SPDX-License-Identifier: Apache-2.0
// bzImage parsing and loading (Documentation/x86/boot.rst).
#include "boot/x86_64/bzimage.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include "boot/x86_64/layout.h"

namespace vmm::boot::x86_64 {

namespace {

constexpr uint64_t kSectorSize = 512;
constexpr uint8_t kDefaultSetupSects = 4;  // boot.rst: "If this field is 0, the real value is 4"
constexpr uint8_t kShortJump = 0xeb;
constexpr uint64_t kHeaderEnd = kSetupHeaderOffset + sizeof(SetupHeader);
// Where the fields a protocol version guarantees end: cmdline_size (2.06), init_size (2.10).
constexpr uint64_t kHeaderEnd206 = 0x23c;
constexpr uint64_t kHeaderEnd210 = 0x264;
constexpr uint64_t kMaxKernelAlignment = 1ull << 30;

std::string protocol(uint16_t version) {
    return fmt::format("{}.{:02}", version >> 8, version & 0xff);
}

Result<uint64_t> add(uint64_t a, uint64_t b, char const* what) {
    uint64_t sum;
    if (__builtin_add_overflow(a, b, &sum))
        return fail(ErrorKind::Image, fmt::format("the bzImage's {} overflows", what));
    return sum;
}

// The end of the setup header that the image declares: boot.rst, "jump": 0xEB and a signed
// offset relative to 0x202.
Result<uint64_t> declared_header_end(std::span<uint8_t const> image, uint16_t version) {
    if (image[0x200] != kShortJump)
        return fail(ErrorKind::Image,
                    "the bzImage's setup header does not start with a short jump "
                    "(0xEB at 0x200): the file is damaged");
    int64_t const end = 0x202 + static_cast<int8_t>(image[0x201]);
    uint64_t const needed = version >= 0x020a ? kHeaderEnd210 : kHeaderEnd206;
    if (end < 0 || static_cast<uint64_t>(end) < needed)
        return fail(ErrorKind::Image,
                    fmt::format("the bzImage's setup header ends at {:#x}, too short for boot "
                                "protocol {} (needs {:#x}): the file is damaged",
                                end, protocol(version), needed));
    return std::min(static_cast<uint64_t>(end), kHeaderEnd);
}

}  // namespace

bool has_setup_header(std::span<uint8_t const> image) {
    return image.size() >= 0x206 && std::memcmp(image.data() + 0x202, "HdrS", 4) == 0;
}

Result<BzImage> parse_bzimage(std::span<uint8_t const> image) {
    if (image.size() < kHeaderEnd)
        return fail(ErrorKind::Image,
                    fmt::format("the bzImage is truncated: {} bytes cannot hold its setup header "
                                "(up to {:#x})",
                                image.size(), kHeaderEnd));
    BzImage bz{};
    std::memcpy(&bz.header, image.data() + kSetupHeaderOffset, sizeof bz.header);
    SetupHeader& h = bz.header;
    if (h.header != kSetupHeaderMagic)
        return fail(ErrorKind::Image, "not a bzImage: no \"HdrS\" signature at offset 0x202");
    if (h.boot_flag != kBootFlag)
        return fail(ErrorKind::Image,
                    fmt::format("the bzImage's boot flag at 0x1fe is {:#06x}, not 0xaa55: the file "
                                "is damaged",
                                uint16_t{h.boot_flag}));
    if (h.version < kMinBootProtocol)
        return fail(ErrorKind::Image,
                    fmt::format("the bzImage speaks boot protocol {}; wisp needs {} or later "
                                "(Linux 2.6.22+): boot a newer kernel",
                                protocol(h.version), protocol(kMinBootProtocol)));
    // Bytes past the declared end belong to the setup code, not the header.
    uint64_t const header_end = TRY(declared_header_end(image, h.version));
    std::memset(reinterpret_cast<uint8_t*>(&h) + (header_end - kSetupHeaderOffset), 0,
                kHeaderEnd - header_end);
    if (h.version < 0x020a) h.pref_address = h.init_size = 0;
    if (h.version < 0x020c) h.xloadflags = 0;

    if (!(h.loadflags & kLoadedHigh))
        return fail(ErrorKind::Image,
                    "the bzImage is not LOADED_HIGH (a zImage loaded at 0x10000): wisp loads the "
                    "protected-mode kernel at 1 MiB; build a bzImage");

    uint64_t const setup_sects = h.setup_sects != 0 ? h.setup_sects : kDefaultSetupSects;
    bz.kernel_offset = (setup_sects + 1) * kSectorSize;  // at most 256 sectors
    if (bz.kernel_offset >= image.size())
        return fail(
            ErrorKind::Image,
            fmt::format("the bzImage is truncated: its {} setup sectors end at {:#x}, at or "
                        "past the end of the {}-byte file",
                        setup_sects, bz.kernel_offset, image.size()));
    bz.kernel_size = image.size() - bz.kernel_offset;

    bool const relocatable = h.relocatable_kernel != 0;
    if (relocatable &&
        (!std::has_single_bit(h.kernel_alignment) || h.kernel_alignment > kMaxKernelAlignment))
        return fail(ErrorKind::Image,
                    fmt::format("the bzImage's kernel_alignment {:#x} is not a power of two up to "
                                "1 GiB: the file is damaged",
                                uint32_t{h.kernel_alignment}));
    if (h.version >= 0x020a) {
        if (h.pref_address < kHighMemoryStart || h.pref_address >= kMmioHoleStart)
            return fail(ErrorKind::Image,
                        fmt::format("the bzImage's preferred load address {:#x} is not in RAM "
                                    "between 1 MiB and the MMIO hole at {:#x}",
                                    uint64_t{h.pref_address}, kMmioHoleStart));
        if (relocatable && h.pref_address % h.kernel_alignment != 0)
            return fail(ErrorKind::Image,
                        fmt::format("the bzImage's preferred load address {:#x} is not a multiple "
                                    "of its kernel_alignment {:#x}",
                                    uint64_t{h.pref_address}, uint32_t{h.kernel_alignment}));
    }
    // A relocatable kernel runs where it is loaded, so it goes to pref_address. Any other one is
    // loaded at 1 MiB and decompresses itself to pref_address (its LOAD_PHYSICAL_ADDR).
    uint64_t const runtime_start = h.version >= 0x020a ? h.pref_address : kHighMemoryStart;
    bz.load_address = relocatable ? runtime_start : kHighMemoryStart;
    uint64_t const file_end = TRY(add(bz.load_address, bz.kernel_size, "load address + size"));
    uint64_t const init_end = TRY(add(runtime_start, h.init_size, "load address + init_size"));
    bz.end = std::max(file_end, init_end);
    if (bz.end > kMmioHoleStart)
        return fail(ErrorKind::Image,
                    fmt::format("the bzImage needs memory up to {:#x} (load address {:#x}, "
                                "{:#x} bytes in the file, init_size {:#x}), past the MMIO hole at "
                                "{:#x}",
                                bz.end, bz.load_address, bz.kernel_size, uint32_t{h.init_size},
                                kMmioHoleStart));

    if (h.xloadflags & kXlfKernel64) {
        if (bz.kernel_size <= kEntry64Offset)
            return fail(ErrorKind::Image,
                        fmt::format("the bzImage's protected-mode kernel ({} bytes) is too short "
                                    "to hold its 64-bit entry at +{:#x}: the file is truncated",
                                    bz.kernel_size, kEntry64Offset));
        bz.mode = EntryMode::Linux64;
        bz.entry = bz.load_address + kEntry64Offset;
    } else {
        bz.mode = EntryMode::Linux32;
        bz.entry = bz.load_address;
    }
    bz.cmdline_size = h.cmdline_size;
    bz.initrd_limit = uint64_t{h.initrd_addr_max} + 1;
    return bz;
}

Result<BzImage> load_bzimage(GuestMemory const& memory, std::span<uint8_t const> image) {
    BzImage bz = TRY(parse_bzimage(image));
    auto regions = memory.regions();
    uint64_t const low_end =
        regions.empty() || regions.front().start.value != 0 ? 0 : regions.front().size();
    if (bz.end > std::min(low_end, kMmioHoleStart))
        return fail(ErrorKind::Image,
                    fmt::format("the kernel needs guest memory at {:#x}-{:#x}, beyond the {} MiB "
                                "of guest RAM: give the guest more --memory",
                                bz.load_address, bz.end, memory.total_size() >> 20));
    auto target = memory.slice(GuestAddress{bz.load_address}, bz.kernel_size);
    if (!target) return fail(ErrorKind::Image, "the kernel does not fit in guest RAM");
    std::memcpy(target->data(), image.data() + bz.kernel_offset, bz.kernel_size);
    return bz;
}

}  // namespace vmm::boot::x86_64
