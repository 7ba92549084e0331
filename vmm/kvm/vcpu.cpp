// SPDX-License-Identifier: Apache-2.0
// Vcpu ioctls and exit decoding.
#include "vmm/kvm/vcpu.h"

#include "vmm/kvm/uapi.h"

#include <sys/ioctl.h>

#include <cerrno>
#include <cstring>

namespace vmm::kvm {

namespace {
template <typename T>
Result<void> vcpu_ioctl(int fd, unsigned long request, T* argument, char const* name) {
    if (::ioctl(fd, request, argument) < 0) return fail_errno(name, errno);
    return {};
}
}  // namespace

Result<VcpuExit> Vcpu::run() {
    if (::ioctl(m_fd.get(), KVM_RUN, 0) < 0) {
        if (errno == EINTR || errno == EAGAIN) return exit::Interrupted{};
        return fail_errno(fmt::format("KVM_RUN on vCPU {}", m_id), errno);
    }
    kvm_run* run = run_area();
    uint8_t* base = m_run.data();
    switch (run->exit_reason) {
        case KVM_EXIT_IO: {
            // KVM API: data lives at data_offset inside the mapping, size * count bytes.
            uint64_t const length = uint64_t{run->io.size} * run->io.count;
            if (run->io.data_offset > m_run.size() || length > m_run.size() - run->io.data_offset)
                return exit::Unknown{run->exit_reason};
            uint8_t* data = base + run->io.data_offset;
            if (run->io.direction == KVM_EXIT_IO_OUT)
                return exit::IoOut{run->io.port, run->io.size, {data, length}};
            return exit::IoIn{run->io.port, run->io.size, {data, length}};
        }
        case KVM_EXIT_MMIO: {
            uint32_t const length = std::min<uint32_t>(run->mmio.len, sizeof run->mmio.data);
            if (run->mmio.is_write)
                return exit::MmioWrite{run->mmio.phys_addr, {run->mmio.data, length}};
            return exit::MmioRead{run->mmio.phys_addr, {run->mmio.data, length}};
        }
        case KVM_EXIT_HLT: return exit::Hlt{};
        case KVM_EXIT_SHUTDOWN: return exit::Shutdown{};
        case KVM_EXIT_INTR: return exit::Interrupted{};
        case KVM_EXIT_SYSTEM_EVENT: return exit::SystemEvent{run->system_event.type};
        case KVM_EXIT_FAIL_ENTRY:
            return exit::FailEntry{run->fail_entry.hardware_entry_failure_reason};
        case KVM_EXIT_INTERNAL_ERROR: {
            exit::InternalError error{run->internal.suberror, {}};
            uint32_t const n = std::min<uint32_t>(run->internal.ndata, 16);
            error.data.assign(run->internal.data, run->internal.data + n);
            return error;
        }
        default: return exit::Unknown{run->exit_reason};
    }
}

void Vcpu::set_immediate_exit(bool value) {
    __atomic_store_n(&run_area()->immediate_exit, value ? 1 : 0, __ATOMIC_SEQ_CST);
}

Result<void> Vcpu::kvmclock_ctrl() {
    if (::ioctl(m_fd.get(), KVM_KVMCLOCK_CTRL, 0) < 0) return fail_errno("KVM_KVMCLOCK_CTRL", errno);
    return {};
}

Result<kvm_regs> Vcpu::regs() const {
    kvm_regs regs{};
    TRY(vcpu_ioctl(m_fd.get(), KVM_GET_REGS, &regs, "KVM_GET_REGS"));
    return regs;
}

Result<void> Vcpu::set_regs(kvm_regs const& regs) {
    kvm_regs copy = regs;
    return vcpu_ioctl(m_fd.get(), KVM_SET_REGS, &copy, "KVM_SET_REGS");
}

Result<kvm_sregs> Vcpu::sregs() const {
    kvm_sregs sregs{};
    TRY(vcpu_ioctl(m_fd.get(), KVM_GET_SREGS, &sregs, "KVM_GET_SREGS"));
    return sregs;
}

Result<void> Vcpu::set_sregs(kvm_sregs const& sregs) {
    kvm_sregs copy = sregs;
    return vcpu_ioctl(m_fd.get(), KVM_SET_SREGS, &copy, "KVM_SET_SREGS");
}

Result<void> Vcpu::set_fpu(kvm_fpu const& fpu) {
    kvm_fpu copy = fpu;
    return vcpu_ioctl(m_fd.get(), KVM_SET_FPU, &copy, "KVM_SET_FPU");
}

Result<void> Vcpu::set_cpuid(std::span<kvm_cpuid_entry2 const> entries) {
    std::vector<uint8_t> buffer(sizeof(uapi::CpuidHeader) + entries.size_bytes());
    uapi::CpuidHeader const header{static_cast<uint32_t>(entries.size()), 0};
    std::memcpy(buffer.data(), &header, sizeof header);
    std::memcpy(buffer.data() + sizeof header, entries.data(), entries.size_bytes());
    return vcpu_ioctl(m_fd.get(), uapi::kSetCpuid2, buffer.data(), "KVM_SET_CPUID2");
}

Result<void> Vcpu::set_msrs(std::span<kvm_msr_entry const> entries) {
    std::vector<uint8_t> buffer(sizeof(uapi::MsrsHeader) + entries.size_bytes());
    uapi::MsrsHeader const header{static_cast<uint32_t>(entries.size()), 0};
    std::memcpy(buffer.data(), &header, sizeof header);
    std::memcpy(buffer.data() + sizeof header, entries.data(), entries.size_bytes());
    int written = ::ioctl(m_fd.get(), uapi::kSetMsrs, buffer.data());
    if (written < 0) return fail_errno("KVM_SET_MSRS", errno);
    if (static_cast<size_t>(written) != entries.size())
        return fail(ErrorKind::Host, fmt::format("KVM_SET_MSRS: MSR {:#x} was refused",
                                                 entries[static_cast<size_t>(written)].index));
    return {};
}

Result<void> Vcpu::get_msrs(std::span<kvm_msr_entry> entries) const {
    std::vector<uint8_t> buffer(sizeof(uapi::MsrsHeader) + entries.size_bytes());
    uapi::MsrsHeader const header{static_cast<uint32_t>(entries.size()), 0};
    std::memcpy(buffer.data(), &header, sizeof header);
    std::memcpy(buffer.data() + sizeof header, entries.data(), entries.size_bytes());
    // KVM API: returns the number of MSRs read, stopping at the first it does not know.
    int read = ::ioctl(m_fd.get(), uapi::kGetMsrs, buffer.data());
    if (read < 0) return fail_errno("KVM_GET_MSRS", errno);
    if (static_cast<size_t>(read) != entries.size())
        return fail(ErrorKind::Host, fmt::format("KVM_GET_MSRS: MSR {:#x} was refused",
                                                 entries[static_cast<size_t>(read)].index));
    std::memcpy(entries.data(), buffer.data() + sizeof header, entries.size_bytes());
    return {};
}

Result<kvm_vcpu_events> Vcpu::vcpu_events() const {
    kvm_vcpu_events events{};
    TRY(vcpu_ioctl(m_fd.get(), KVM_GET_VCPU_EVENTS, &events, "KVM_GET_VCPU_EVENTS"));
    return events;
}

Result<void> Vcpu::set_vcpu_events(kvm_vcpu_events const& events) {
    kvm_vcpu_events copy = events;
    return vcpu_ioctl(m_fd.get(), KVM_SET_VCPU_EVENTS, &copy, "KVM_SET_VCPU_EVENTS");
}

Result<uint32_t> Vcpu::tsc_khz() const {
    int khz = ::ioctl(m_fd.get(), KVM_GET_TSC_KHZ, 0);
    if (khz < 0) return fail_errno("KVM_GET_TSC_KHZ", errno);
    return static_cast<uint32_t>(khz);
}

Result<kvm_lapic_state> Vcpu::lapic() const {
    kvm_lapic_state state{};
    TRY(vcpu_ioctl(m_fd.get(), KVM_GET_LAPIC, &state, "KVM_GET_LAPIC"));
    return state;
}

Result<void> Vcpu::set_lapic(kvm_lapic_state const& state) {
    kvm_lapic_state copy = state;
    return vcpu_ioctl(m_fd.get(), KVM_SET_LAPIC, &copy, "KVM_SET_LAPIC");
}

Result<kvm_mp_state> Vcpu::mp_state() const {
    kvm_mp_state state{};
    TRY(vcpu_ioctl(m_fd.get(), KVM_GET_MP_STATE, &state, "KVM_GET_MP_STATE"));
    return state;
}

Result<kvm_translation> Vcpu::translate(uint64_t linear) const {
    kvm_translation translation{};
    translation.linear_address = linear;
    TRY(vcpu_ioctl(m_fd.get(), KVM_TRANSLATE, &translation, "KVM_TRANSLATE"));
    return translation;
}

}  // namespace vmm::kvm
