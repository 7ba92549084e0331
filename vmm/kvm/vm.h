// SPDX-License-Identifier: Apache-2.0
// Vm: one KVM virtual machine.
#pragma once

#include <cstdint>
#include <optional>

#include "vmm/base/event_fd.h"
#include "vmm/base/result.h"
#include "vmm/base/unique_fd.h"

namespace vmm::kvm {

class Vcpu;

class Vm {
public:
    Vm(UniqueFd fd, size_t vcpu_mmap_size) : m_fd(std::move(fd)), m_vcpu_mmap_size(vcpu_mmap_size) {}

    Result<void> set_user_memory_region(uint32_t slot, uint64_t guest_address, uint64_t size,
                                        void* host);
    Result<void> set_tss_address(uint64_t address);
    Result<void> set_identity_map_address(uint64_t address);
    Result<void> create_irqchip();
    Result<void> create_pit2();
    Result<void> register_irqfd(EventFd const& event, uint32_t gsi);
    Result<void> register_ioeventfd(EventFd const& event, uint64_t address, uint32_t length,
                                    std::optional<uint64_t> datamatch, bool pio);
    Result<void> set_irq_line(uint32_t irq, bool level);
    Result<Vcpu> create_vcpu(uint32_t id);
    int fd() const { return m_fd.get(); }

private:
    UniqueFd m_fd;
    size_t m_vcpu_mmap_size;
};

}  // namespace vmm::kvm
