// SPDX-License-Identifier: Apache-2.0
// Kvm: opening /dev/kvm and querying it.
#include "vmm/kvm/kvm.h"

#include <fcntl.h>
#include <sys/ioctl.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "vmm/kvm/uapi.h"
#include "vmm/kvm/vm.h"

namespace vmm::kvm {

namespace {
constexpr RequiredCapability kRequired[] = {
    {KVM_CAP_USER_MEMORY, "KVM_CAP_USER_MEMORY"},
    {KVM_CAP_IRQCHIP, "KVM_CAP_IRQCHIP"},
    {KVM_CAP_PIT2, "KVM_CAP_PIT2"},
    {KVM_CAP_SET_TSS_ADDR, "KVM_CAP_SET_TSS_ADDR"},
    {KVM_CAP_SET_IDENTITY_MAP_ADDR, "KVM_CAP_SET_IDENTITY_MAP_ADDR"},
    {KVM_CAP_EXT_CPUID, "KVM_CAP_EXT_CPUID"},
    {KVM_CAP_IRQFD, "KVM_CAP_IRQFD"},
    {KVM_CAP_IOEVENTFD, "KVM_CAP_IOEVENTFD"},
    {KVM_CAP_IMMEDIATE_EXIT, "KVM_CAP_IMMEDIATE_EXIT"},
    {KVM_CAP_MP_STATE, "KVM_CAP_MP_STATE"},
};
}  // namespace

std::span<RequiredCapability const> required_capabilities() { return kRequired; }

Result<Kvm> Kvm::open(char const* path) {
    int raw = ::open(path, O_RDWR | O_CLOEXEC);
    if (raw < 0) {
        int const e = errno;
        std::string hint;
        if (e == ENOENT || e == ENODEV || e == ENXIO)
            hint = ": this host offers no KVM (load kvm_intel or kvm_amd, or enable nested "
                   "virtualisation for this VM)";
        else if (e == EACCES || e == EPERM)
            hint = ": add yourself to the 'kvm' group or run as root";
        return std::unexpected(Error::from_errno(fmt::format("cannot open {}{}", path, hint), e,
                                                 ErrorKind::Unavailable));
    }
    UniqueFd fd(raw);
    int version = ::ioctl(fd.get(), KVM_GET_API_VERSION, 0);
    if (version < 0)
        return std::unexpected(Error::from_errno(
            fmt::format("{} is not a KVM device (KVM_GET_API_VERSION failed)", path), errno,
            ErrorKind::Unavailable));
    if (version != KVM_API_VERSION)
        return fail(ErrorKind::Unavailable,
                    fmt::format("{} speaks KVM API version {}, wisp needs {}", path, version,
                                KVM_API_VERSION));
    for (auto const& cap : kRequired) {
        if (::ioctl(fd.get(), KVM_CHECK_EXTENSION, cap.id) <= 0)
            return fail(ErrorKind::Unavailable,
                        fmt::format("{} lacks {}, which wisp needs", path, cap.name));
    }
    int mmap_size = ::ioctl(fd.get(), KVM_GET_VCPU_MMAP_SIZE, 0);
    if (mmap_size <= 0) return fail_errno("KVM_GET_VCPU_MMAP_SIZE", errno);
    int max_vcpus = ::ioctl(fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_MAX_VCPUS);
    if (max_vcpus <= 0) max_vcpus = ::ioctl(fd.get(), KVM_CHECK_EXTENSION, KVM_CAP_NR_VCPUS);
    if (max_vcpus <= 0) max_vcpus = 4;  // KVM API: assume 4 when neither cap answers
    return Kvm(std::move(fd), static_cast<size_t>(mmap_size), max_vcpus);
}

int Kvm::check_extension(long capability) const {
    return ::ioctl(m_fd.get(), KVM_CHECK_EXTENSION, capability);
}

Result<Vm> Kvm::create_vm() const {
    int fd;
    do {
        fd = ::ioctl(m_fd.get(), KVM_CREATE_VM, 0);
    } while (fd < 0 && errno == EINTR);
    if (fd < 0) return fail_errno("KVM_CREATE_VM", errno);
    return Vm(UniqueFd(fd), m_vcpu_mmap_size);
}

Result<std::vector<kvm_cpuid_entry2>> Kvm::supported_cpuid() const {
    // KVM API: E2BIG means the buffer is too small; grow and retry.
    for (uint32_t count = 128; count <= 4096; count *= 2) {
        std::vector<uint8_t> buffer(sizeof(uapi::CpuidHeader) + count * sizeof(kvm_cpuid_entry2));
        uapi::CpuidHeader header{count, 0};
        std::memcpy(buffer.data(), &header, sizeof header);
        if (::ioctl(m_fd.get(), uapi::kGetSupportedCpuid, buffer.data()) == 0) {
            std::memcpy(&header, buffer.data(), sizeof header);
            std::vector<kvm_cpuid_entry2> entries(std::min(header.nent, count));
            std::memcpy(entries.data(), buffer.data() + sizeof header,
                        entries.size() * sizeof(kvm_cpuid_entry2));
            return entries;
        }
        if (errno != E2BIG) return fail_errno("KVM_GET_SUPPORTED_CPUID", errno);
    }
    return fail(ErrorKind::Host, "KVM_GET_SUPPORTED_CPUID: more than 4096 entries");
}

}  // namespace vmm::kvm
