// SPDX-License-Identifier: Apache-2.0
// The host profile: how wisp adapts a guest to the host's KVM. On a PVM host (kvm_pvm; see
// reference/pvm-host-facts.md) KVM_SET_CPUID2 is ignored, so the pvm profile adapts the guest
// through its kernel command line and turns on the emulation-gap fallback
// (vmm/kvm/pvm_quirks.h). Detection and the cmdline additions are pure functions over evidence
// read once from /sys and /proc, so they are unit-tested on any host.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "boot/cmdline.h"
#include "vmm/base/result.h"
#include "vmm/machine_config.h"

namespace vmm {

/// What the host shows cheaply about its KVM.
struct HostEvidence {
    bool kvm_pvm_module = false;      // /sys/module/kvm_pvm exists or /proc/modules lists it
    bool cpu_virtualization = false;  // vmx or svm among the first CPU's /proc/cpuinfo flags
    std::optional<uint32_t> tsc_khz;  // the host's TSC frequency, when it is known exactly
};

struct HostProfileDecision {
    HostProfile profile;  // Pvm or Native, never Auto
    std::string reason;
};

/// auto = pvm when the kvm_pvm module is there and the CPU has neither vmx nor svm (PVM is
/// what gives a VM without them a /dev/kvm); native otherwise.
HostProfileDecision decide_host_profile(HostProfile requested, HostEvidence const& evidence);

std::string_view host_profile_name(HostProfile profile);

/// True when the first processor's "flags" line in /proc/cpuinfo text lists flag.
bool cpuinfo_has_flag(std::string_view cpuinfo, std::string_view flag);
/// The first processor's "cpu MHz" in kHz, trusted as the TSC frequency only when the kernel
/// knows that exactly (flag tsc_known_freq: from CPUID or the hypervisor) and the line shows the
/// TSC-derived cpu_khz rather than a measured frequency (no aperfmperf flag).
std::optional<uint32_t> cpuinfo_tsc_khz(std::string_view cpuinfo);
/// True when /proc/modules text lists the module.
bool proc_modules_lists(std::string_view modules, std::string_view name);

/// Reads the evidence from /sys and /proc, once per process (the host does not change under a
/// running wisp); later calls return the same.
HostEvidence const& host_evidence();

/// The requested profile resolved on this host (auto: decide_host_profile on host_evidence()).
HostProfileDecision resolve_host_profile(HostProfile requested);

/// The pvm profile's additions to the guest kernel command line (reference/pvm-host-facts.md):
///   noxsave                the emulator cannot run xrstor, which is fatal at FPU init
///   tsc_early_khz=<kHz>    the host TSC frequency, when known: no calibration under emulation
///   clearcpuid=hypervisor  only with tsc_early_khz (the user's or ours): the guest then skips
///                          its KVM paravirt features (kvm-clock, hypercalls that hang here) and
///                          times with the TSC; without a known frequency it loses kvm-clock
///                          and runs ~25% slow, so it is left out
///   pty.legacy_count=0     256 legacy PTY pairs cost ~88 s of emulated boot
/// An option the user already gave (same name, '-' and '_' alike) is not added again, and the
/// additions go before a "--" (what follows it is init's). Fails if the result does not fit.
Result<boot::Cmdline> add_pvm_cmdline_options(boot::Cmdline const& cmdline,
                                              std::optional<uint32_t> tsc_khz);

/// The guest's command line: the user's, plus the resolved profile's additions. Logs the
/// profile, why, and (pvm) the resulting command line at info, in one line.
Result<boot::Cmdline> guest_cmdline(MachineConfig const& config);

}  // namespace vmm
