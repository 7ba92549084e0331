// SPDX-License-Identifier: Apache-2.0
// MemoryMapping implementation.
#include "vmm/base/memory_mapping.h"

#include <sys/mman.h>

#include <cerrno>

namespace vmm {

Result<MemoryMapping> MemoryMapping::anonymous(size_t size) {
    void* address = ::mmap(nullptr, size, PROT_READ | PROT_WRITE,
                           MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (address == MAP_FAILED) return fail_errno(fmt::format("mmap {} bytes", size), errno);
    return MemoryMapping(address, size);
}

Result<MemoryMapping> MemoryMapping::of_fd(int fd, size_t size, int prot) {
    void* address = ::mmap(nullptr, size, prot, MAP_SHARED, fd, 0);
    if (address == MAP_FAILED) return fail_errno(fmt::format("mmap fd {}", fd), errno);
    return MemoryMapping(address, size);
}

MemoryMapping& MemoryMapping::operator=(MemoryMapping&& other) noexcept {
    if (this != &other) {
        if (m_address) ::munmap(m_address, m_size);
        m_address = std::exchange(other.m_address, nullptr);
        m_size = std::exchange(other.m_size, 0);
    }
    return *this;
}

MemoryMapping::~MemoryMapping() {
    if (m_address) ::munmap(m_address, m_size);
}

}  // namespace vmm
