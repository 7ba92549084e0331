// SPDX-License-Identifier: Apache-2.0
// Thin wrappers over the KVM ioctls: Kvm (the /dev/kvm fd) -> Vm -> Vcpu.
#pragma once

#include <linux/kvm.h>

#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/base/unique_fd.h"

namespace vmm::kvm {

class Vm;

/// Owns /dev/kvm. open() checks the API version and every capability wisp relies on, naming
/// the first one missing.
class Kvm {
public:
    static Result<Kvm> open(char const* path = "/dev/kvm");

    Result<Vm> create_vm() const;
    int check_extension(long capability) const;
    /// KVM_GET_SUPPORTED_CPUID, as a list of entries.
    Result<std::vector<kvm_cpuid_entry2>> supported_cpuid() const;
    size_t vcpu_mmap_size() const { return m_vcpu_mmap_size; }
    int max_vcpus() const { return m_max_vcpus; }

private:
    Kvm(UniqueFd fd, size_t mmap_size, int max_vcpus)
        : m_fd(std::move(fd)), m_vcpu_mmap_size(mmap_size), m_max_vcpus(max_vcpus) {}
    UniqueFd m_fd;
    size_t m_vcpu_mmap_size = 0;
    int m_max_vcpus = 0;
};

/// The capabilities wisp needs, with their names for error messages.
struct RequiredCapability {
    long id;
    char const* name;
};
std::span<RequiredCapability const> required_capabilities();

}  // namespace vmm::kvm
