// SPDX-License-Identifier: Apache-2.0
// Vm ioctls.
#include "vmm/kvm/vm.h"

#include <linux/kvm.h>
#include <sys/ioctl.h>
#include <sys/mman.h>

#include <cerrno>

#include "vmm/kvm/vcpu.h"

namespace vmm::kvm {

Result<void> Vm::set_user_memory_region(uint32_t slot, uint64_t guest_address, uint64_t size,
                                        void* host) {
    kvm_userspace_memory_region region{};
    region.slot = slot;
    region.guest_phys_addr = guest_address;
    region.memory_size = size;
    region.userspace_addr = reinterpret_cast<uint64_t>(host);
    if (::ioctl(m_fd.get(), KVM_SET_USER_MEMORY_REGION, &region) < 0)
        return fail_errno(fmt::format("KVM_SET_USER_MEMORY_REGION slot {}", slot), errno);
    return {};
}

Result<void> Vm::set_tss_address(uint64_t address) {
    if (::ioctl(m_fd.get(), KVM_SET_TSS_ADDR, static_cast<unsigned long>(address)) < 0)
        return fail_errno("KVM_SET_TSS_ADDR", errno);
    return {};
}

Result<void> Vm::set_identity_map_address(uint64_t address) {
    if (::ioctl(m_fd.get(), KVM_SET_IDENTITY_MAP_ADDR, &address) < 0)
        return fail_errno("KVM_SET_IDENTITY_MAP_ADDR", errno);
    return {};
}

Result<void> Vm::create_irqchip() {
    if (::ioctl(m_fd.get(), KVM_CREATE_IRQCHIP, 0) < 0) return fail_errno("KVM_CREATE_IRQCHIP", errno);
    return {};
}

Result<void> Vm::create_pit2() {
    kvm_pit_config config{};
    config.flags = KVM_PIT_SPEAKER_DUMMY;
    if (::ioctl(m_fd.get(), KVM_CREATE_PIT2, &config) < 0) return fail_errno("KVM_CREATE_PIT2", errno);
    return {};
}

Result<void> Vm::register_irqfd(EventFd const& event, uint32_t gsi) {
    kvm_irqfd irqfd{};
    irqfd.fd = static_cast<uint32_t>(event.fd());
    irqfd.gsi = gsi;
    if (::ioctl(m_fd.get(), KVM_IRQFD, &irqfd) < 0)
        return fail_errno(fmt::format("KVM_IRQFD gsi {}", gsi), errno);
    return {};
}

Result<void> Vm::register_ioeventfd(EventFd const& event, uint64_t address, uint32_t length,
                                    std::optional<uint64_t> datamatch, bool pio) {
    kvm_ioeventfd io{};
    io.addr = address;
    io.len = length;
    io.fd = event.fd();
    if (pio) io.flags |= KVM_IOEVENTFD_FLAG_PIO;
    if (datamatch) {
        io.flags |= KVM_IOEVENTFD_FLAG_DATAMATCH;
        io.datamatch = *datamatch;
    }
    if (::ioctl(m_fd.get(), KVM_IOEVENTFD, &io) < 0)
        return fail_errno(fmt::format("KVM_IOEVENTFD at {:#x}", address), errno);
    return {};
}

Result<void> Vm::set_irq_line(uint32_t irq, bool level) {
    kvm_irq_level line{};
    line.irq = irq;
    line.level = level ? 1 : 0;
    if (::ioctl(m_fd.get(), KVM_IRQ_LINE, &line) < 0)
        return fail_errno(fmt::format("KVM_IRQ_LINE {}", irq), errno);
    return {};
}

Result<Vcpu> Vm::create_vcpu(uint32_t id) {
    int raw = ::ioctl(m_fd.get(), KVM_CREATE_VCPU, static_cast<unsigned long>(id));
    if (raw < 0) return fail_errno(fmt::format("KVM_CREATE_VCPU {}", id), errno);
    UniqueFd fd(raw);
    auto run = TRY(MemoryMapping::of_fd(fd.get(), m_vcpu_mmap_size, PROT_READ | PROT_WRITE));
    return Vcpu(id, std::move(fd), std::move(run));
}

}  // namespace vmm::kvm
