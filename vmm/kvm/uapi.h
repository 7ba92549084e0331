// SPDX-License-Identifier: Apache-2.0
// Corrections to <linux/kvm.h> for C++. The uapi headers declare the variable-length arrays of
// kvm_cpuid2 and kvm_msrs with __DECLARE_FLEX_ARRAY, which in C++ puts a one-byte empty struct
// before the array: sizeof(kvm_cpuid2) becomes 12 instead of 8, the entries move to offset 12
// (kvm_msrs: 16), and the ioctl numbers built from those sizes are ones the kernel does not
// know (KVM_GET_SUPPORTED_CPUID fails with EINVAL). These are the C layouts and numbers.
#pragma once

#include <linux/kvm.h>
#include <sys/ioctl.h>

#include <cstdint>

namespace vmm::kvm::uapi {

/// struct kvm_cpuid2 without its array; entries (kvm_cpuid_entry2) follow at offset 8.
struct CpuidHeader {
    uint32_t nent;
    uint32_t padding;
};
static_assert(sizeof(CpuidHeader) == 8);

/// struct kvm_msrs without its array; entries (kvm_msr_entry) follow at offset 8.
struct MsrsHeader {
    uint32_t nmsrs;
    uint32_t pad;
};
static_assert(sizeof(MsrsHeader) == 8);

inline constexpr unsigned long kGetSupportedCpuid = _IOWR(KVMIO, 0x05, CpuidHeader);
inline constexpr unsigned long kSetCpuid2 = _IOW(KVMIO, 0x90, CpuidHeader);
inline constexpr unsigned long kSetMsrs = _IOW(KVMIO, 0x89, MsrsHeader);
inline constexpr unsigned long kGetMsrs = _IOWR(KVMIO, 0x88, MsrsHeader);

// The values the kernel's own (C) definitions produce.
static_assert(kGetSupportedCpuid == 0xc008ae05);
static_assert(kSetCpuid2 == 0x4008ae90);
static_assert(kSetMsrs == 0x4008ae89);
static_assert(kGetMsrs == 0xc008ae88);

}  // namespace vmm::kvm::uapi
