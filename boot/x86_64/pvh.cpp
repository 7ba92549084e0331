// SPDX-License-Identifier: Apache-2.0
// PVH start info.
#include "boot/x86_64/pvh.h"

#include "boot/x86_64/layout.h"

namespace vmm::boot::x86_64 {

namespace {
Result<void> put(Result<void, MemoryError> r, char const* what) {
    if (!r) return fail(ErrorKind::Image, fmt::format("guest memory too small for the {}", what));
    return {};
}
}  // namespace

Result<uint64_t> write_pvh_start_info(GuestMemory const& memory, std::string const& cmdline,
                                      std::span<E820Entry const> e820,
                                      std::optional<LoadedModule> initrd) {
    if (e820.size() > kMemoryMapMaxEntries)
        return fail(ErrorKind::Host, "too many memory map entries");
    uint64_t const cmdline_address = TRY(write_cmdline(memory, cmdline));
    for (size_t i = 0; i < e820.size(); ++i) {
        HvmMemmapEntry entry{e820[i].address, e820[i].size, static_cast<uint32_t>(e820[i].type), 0};
        TRY(put(memory.write_obj(GuestAddress{kMemoryMapAddress + i * sizeof entry}, entry),
                "memory map"));
    }
    HvmStartInfo info{};
    info.magic = kHvmStartMagic;
    info.version = 1;
    info.cmdline_paddr = cmdline_address;
    info.memmap_paddr = kMemoryMapAddress;
    info.memmap_entries = static_cast<uint32_t>(e820.size());
    if (initrd) {
        HvmModlistEntry module{initrd->address, initrd->size, 0, 0};
        TRY(put(memory.write_obj(GuestAddress{kModuleListAddress}, module), "module list"));
        info.nr_modules = 1;
        info.modlist_paddr = kModuleListAddress;
    }
    TRY(put(memory.write_obj(GuestAddress{kStartInfoAddress}, info), "start info"));
    return kStartInfoAddress;
}

}  // namespace vmm::boot::x86_64
