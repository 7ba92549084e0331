// SPDX-License-Identifier: Apache-2.0
// BlockBackend: synchronous block I/O on the calling thread. The sync engine (SyncBackend) is
// one, and tests inject faults with a mock; the device reaches either through SyncEngine
// (block_engine.h), the adapter to its asynchronous BlockEngine interface.
#pragma once

#include <sys/uio.h>

#include <cstdint>
#include <span>

#include "vmm/base/result.h"

namespace vmm::devices::virtio {

/// Every operation returns nothing or an errno value. Offsets and lengths are in bytes; the
/// device checked them against the capacity. The iovecs point into guest memory.
class BlockBackend {
public:
    virtual ~BlockBackend() = default;

    /// Size of the image in bytes, as opened.
    virtual uint64_t size() const = 0;
    /// Fills every iovec. A read that ends early (the image shrank) fails with ENODATA.
    virtual Result<void, int> read(uint64_t offset, std::span<iovec const> iov) = 0;
    /// Writes every iovec (ENOSPC, EIO, ... on failure).
    virtual Result<void, int> write(uint64_t offset, std::span<iovec const> iov) = 0;
    /// Makes completed writes durable.
    virtual Result<void, int> flush() = 0;
    /// A hint: the range's contents no longer matter (reads may return anything after).
    virtual Result<void, int> discard(uint64_t offset, uint64_t length) = 0;
    /// The range reads as zeroes afterwards; with may_unmap its space may be freed.
    virtual Result<void, int> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) = 0;
};

}  // namespace vmm::devices::virtio
