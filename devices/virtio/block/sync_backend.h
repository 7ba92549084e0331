// SPDX-License-Identifier: Apache-2.0
// SyncBackend: the sync engine. preadv/pwritev straight between the image and guest memory,
// fdatasync and fallocate, on the calling thread (the event loop).
#pragma once

#include "devices/virtio/block/block_backend.h"
#include "devices/virtio/block/disk_image.h"

namespace vmm::devices::virtio {

class SyncBackend final : public BlockBackend {
public:
    explicit SyncBackend(DiskImage image) : m_image(std::move(image)) {}

    uint64_t size() const override { return m_image.size; }
    int fd() const { return m_image.fd.get(); }
    Result<void, int> read(uint64_t offset, std::span<iovec const> iov) override;
    Result<void, int> write(uint64_t offset, std::span<iovec const> iov) override;
    Result<void, int> flush() override;
    /// Hole punching; a file system without it makes this a no-op (a discard is a hint).
    Result<void, int> discard(uint64_t offset, uint64_t length) override;
    /// FALLOC_FL_ZERO_RANGE (PUNCH_HOLE first when may_unmap), falling back to the other and
    /// then to writing zeroes when the file system supports neither.
    Result<void, int> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override;

private:
    Result<void, int> write_zero_bytes(uint64_t offset, uint64_t length);

    DiskImage m_image;
};

}  // namespace vmm::devices::virtio
