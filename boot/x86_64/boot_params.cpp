// SPDX-License-Identifier: Apache-2.0
// boot_params construction (Documentation/x86/boot.rst, zero-page.rst).
#include "boot/x86_64/boot_params.h"

#include "boot/cmdline.h"
#include "boot/x86_64/layout.h"

namespace vmm::boot::x86_64 {

SetupHeader vmlinux_setup_header() {
    SetupHeader header{};
    header.boot_flag = kBootFlag;
    header.header = kSetupHeaderMagic;
    header.version = 0x020c;  // the first protocol with xloadflags
    header.loadflags = kLoadedHigh;
    header.xloadflags = kXlfKernel64;
    header.kernel_alignment = 0x200000;  // x86_64's minimum physical alignment (2 MiB)
    header.initrd_addr_max = static_cast<uint32_t>(kMmioHoleStart - 1);
    header.cmdline_size = static_cast<uint32_t>(Cmdline::kDefaultCapacity - 1);
    return header;
}

Result<BootParams> make_boot_params(SetupHeader const& header, BootParamsInputs const& inputs) {
    if (inputs.e820.size() > kBootE820MaxEntries)
        return fail(ErrorKind::Host,
                    fmt::format("{} memory map entries do not fit in boot_params (at most {})",
                                inputs.e820.size(), kBootE820MaxEntries));
    if (inputs.cmdline_size > header.cmdline_size)
        return fail(ErrorKind::Usage,
                    fmt::format("the kernel command line is {} bytes; this kernel accepts at most "
                                "{} (cmdline_size in its setup header): shorten --cmdline",
                                inputs.cmdline_size, uint32_t{header.cmdline_size}));
    // Zeroed, so the sentinel is 0 and every field this loader does not know is left empty.
    BootParams params{};
    params.hdr = header;
    params.hdr.type_of_loader = kLoaderUndefined;
    // The protected-mode kernel sits at 1 MiB or above. No real-mode setup code runs at the 32-
    // and 64-bit entries, so there is no setup heap and heap_end_ptr means nothing.
    params.hdr.loadflags = static_cast<uint8_t>((header.loadflags | kLoadedHigh) & ~kCanUseHeap);
    params.hdr.heap_end_ptr = 0;

    params.hdr.cmd_line_ptr = static_cast<uint32_t>(inputs.cmdline_address);
    params.ext_cmd_line_ptr = static_cast<uint32_t>(inputs.cmdline_address >> 32);
    if (inputs.initrd) {
        params.hdr.ramdisk_image = static_cast<uint32_t>(inputs.initrd->address);
        params.ext_ramdisk_image = static_cast<uint32_t>(inputs.initrd->address >> 32);
        params.hdr.ramdisk_size = static_cast<uint32_t>(inputs.initrd->size);
        params.ext_ramdisk_size = static_cast<uint32_t>(inputs.initrd->size >> 32);
    } else {
        params.hdr.ramdisk_image = 0;
        params.hdr.ramdisk_size = 0;
    }

    params.e820_entries = static_cast<uint8_t>(inputs.e820.size());
    for (size_t i = 0; i < inputs.e820.size(); ++i) {
        auto const& entry = inputs.e820[i];
        params.e820_table[i] = {entry.address, entry.size, static_cast<uint32_t>(entry.type)};
    }
    return params;
}

Result<uint64_t> write_boot_params(GuestMemory const& memory, BootParams const& params) {
    if (!memory.write_obj(GuestAddress{kBootParamsAddress}, params))
        return fail(ErrorKind::Image, "guest memory too small for boot_params");
    return kBootParamsAddress;
}

}  // namespace vmm::boot::x86_64
