// SPDX-License-Identifier: Apache-2.0
// BlockEngine: the asynchronous interface a virtio-blk device drives. Reads, writes and
// flushes are started with submit() and finish later, reported by reap(); discard and
// write-zeroes run synchronously (fallocate). Two engines: SyncEngine adapts a synchronous
// BlockBackend (the sync engine, and the tests' mocks) and finishes every operation inside
// submit(); UringEngine (uring_engine.h) keeps them in flight on an io_uring.
#pragma once

#include <sys/uio.h>

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <vector>

#include "devices/virtio/block/block_backend.h"
#include "devices/virtio/block/disk_image.h"
#include "devices/virtio/virtio_device.h"
#include "vmm/base/result.h"

namespace vmm::devices::virtio {

enum class BlockOp : uint8_t { Read, Write, Flush };

/// One operation. `iov` (Read, Write) points into guest memory and must stay valid, with the
/// memory it describes, until the operation completes; the engine copies the iovec array.
struct BlockIo {
    BlockOp op;
    uint64_t offset = 0;
    std::span<iovec const> iov;
};

/// A finished operation: the submit() tag and 0 or an errno value. Every byte moved when 0;
/// a read that met the end of the image fails with ENODATA (as BlockBackend::read).
struct BlockCompletion {
    uint32_t tag;
    int error;
};

class BlockEngine {
public:
    virtual ~BlockEngine() = default;

    /// Size of the image in bytes, as opened.
    virtual uint64_t size() const = 0;
    /// Operations that may be in flight at once; submit() is not called beyond it.
    virtual size_t depth() const = 0;
    /// Starts an operation. Its completion comes from reap(), never from submit() itself.
    virtual void submit(BlockIo const& io, uint32_t tag) = 0;
    /// Hands what submit() queued to the host (one system call for a batch).
    virtual void commit() {}
    /// Appends finished operations to `out`; with `wait`, blocks until at least one finishes
    /// when any is in flight. Returns how many it appended.
    virtual size_t reap(std::vector<BlockCompletion>& out, bool wait) = 0;
    /// Operations submitted and not yet reaped.
    virtual size_t in_flight() const = 0;

    /// Synchronous: see BlockBackend.
    virtual Result<void, int> discard(uint64_t offset, uint64_t length) = 0;
    virtual Result<void, int> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) = 0;

    /// A drive update: later operations go to `image`, and the old image is closed (its lock
    /// released). Only with nothing in flight. The event sources stay the same.
    virtual void replace_image(DiskImage image) = 0;

    /// Host fds whose readiness means completions may be waiting (reap() then clears it).
    virtual std::vector<HostEventSource> event_sources() const { return {}; }
    /// For log messages: "sync", "io_uring".
    virtual char const* name() const = 0;
};

/// The sync engine as a BlockEngine: each operation runs on the BlockBackend inside submit()
/// and waits in a list for the next reap().
class SyncEngine final : public BlockEngine {
public:
    static constexpr size_t kDepth = 1024;

    explicit SyncEngine(std::unique_ptr<BlockBackend> backend) : m_backend(std::move(backend)) {}

    uint64_t size() const override { return m_backend->size(); }
    size_t depth() const override { return kDepth; }
    void submit(BlockIo const& io, uint32_t tag) override;
    size_t reap(std::vector<BlockCompletion>& out, bool wait) override;
    size_t in_flight() const override { return m_done.size(); }
    Result<void, int> discard(uint64_t offset, uint64_t length) override {
        return m_backend->discard(offset, length);
    }
    Result<void, int> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override {
        return m_backend->write_zeroes(offset, length, may_unmap);
    }
    void replace_image(DiskImage image) override;
    char const* name() const override { return "sync"; }

private:
    std::unique_ptr<BlockBackend> m_backend;
    std::vector<BlockCompletion> m_done;
};

}  // namespace vmm::devices::virtio
