// SPDX-License-Identifier: Apache-2.0
// Guest memory layout.
#include "boot/x86_64/layout.h"

#include <algorithm>

namespace vmm::boot::x86_64 {

Result<uint64_t> write_cmdline(GuestMemory const& memory, std::string const& cmdline) {
    // The command line must end below the EBDA; Cmdline keeps it far shorter than that.
    if (cmdline.size() + 1 > kEbdaStart - kCmdlineAddress)
        return fail(ErrorKind::Usage, "the kernel command line is too long");
    std::string terminated = cmdline;
    terminated.push_back('\0');
    if (!memory.write(GuestAddress{kCmdlineAddress},
                      std::span(reinterpret_cast<uint8_t const*>(terminated.data()),
                                terminated.size())))
        return fail(ErrorKind::Image, "guest memory too small for the command line");
    return kCmdlineAddress;
}

Result<std::vector<GuestMemory::RegionSpec>> memory_layout(uint64_t memory_size) {
    if (memory_size < kMinMemory || memory_size > kMaxMemory)
        return fail(ErrorKind::Usage,
                    fmt::format("--memory {} MiB is out of range: use {} MiB to {} GiB",
                                memory_size >> 20, kMinMemory >> 20, kMaxMemory >> 30));
    if (memory_size % 4096 != 0)
        return fail(ErrorKind::Usage, "--memory must be a multiple of 4 KiB");
    std::vector<GuestMemory::RegionSpec> regions;
    uint64_t const low = std::min(memory_size, kMmioHoleStart);
    regions.push_back({GuestAddress{0}, low});
    if (memory_size > low) regions.push_back({GuestAddress{kMmioHoleEnd}, memory_size - low});
    return regions;
}

}  // namespace vmm::boot::x86_64
