// SPDX-License-Identifier: Apache-2.0
// build_machine: MachineConfig -> a ready (not yet running) Machine. Everything that can be
// checked without KVM (options, files, images, memory fit) is checked before /dev/kvm is
// opened, so bad input gets the same answer on any host.
#pragma once

#include <chrono>
#include <memory>
#include <span>

#include "boot/elf_loader.h"
#include "boot/x86_64/cpu_setup.h"
#include "boot/x86_64/pvh.h"
#include "vmm/machine.h"
#include "vmm/machine_config.h"

namespace vmm {

/// Checks the options alone (vCPU count, memory size, command line).
Result<void> validate_config(MachineConfig const& config);

/// The guest's memory with kernel, initrd, GDT and boot information in place (PVH start info,
/// or boot_params and, for the 64-bit entry, identity page tables), and how vCPU 0 enters:
/// an ELF with a PVH note through PVH, an ELF64 without one at e_entry through Linux's 64-bit
/// entry, a bzImage through its 64-bit entry (XLF_KERNEL_64) or else its 32-bit one.
struct LoadedGuest {
    GuestMemory memory;
    boot::x86_64::EntryMode mode;
    kvm_regs regs;  // vCPU 0's registers: rip = entry, rbx = start info or rsi = boot_params
};
Result<LoadedGuest> load_guest(MachineConfig const& config);

Result<std::unique_ptr<Machine>> build_machine(MachineConfig const& config,
                                               std::chrono::steady_clock::time_point start);

}  // namespace vmm
