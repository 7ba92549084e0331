// SPDX-License-Identifier: Apache-2.0
// MemoryMapping: an owned mmap() region, unmapped on destruction.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <utility>

#include "vmm/base/result.h"

namespace vmm {

class MemoryMapping {
public:
    /// Anonymous private memory that costs nothing until touched (MAP_NORESERVE).
    static Result<MemoryMapping> anonymous(size_t size);
    /// A shared mapping of an fd (e.g. a vCPU's kvm_run area).
    static Result<MemoryMapping> of_fd(int fd, size_t size, int prot);

    MemoryMapping() = default;
    MemoryMapping(MemoryMapping&& other) noexcept
        : m_address(std::exchange(other.m_address, nullptr)), m_size(std::exchange(other.m_size, 0)) {}
    MemoryMapping& operator=(MemoryMapping&& other) noexcept;
    MemoryMapping(MemoryMapping const&) = delete;
    MemoryMapping& operator=(MemoryMapping const&) = delete;
    ~MemoryMapping();

    uint8_t* data() const { return static_cast<uint8_t*>(m_address); }
    size_t size() const { return m_size; }
    std::span<uint8_t> span() const { return {data(), m_size}; }

private:
    MemoryMapping(void* address, size_t size) : m_address(address), m_size(size) {}
    void* m_address = nullptr;
    size_t m_size = 0;
};

}  // namespace vmm
