// SPDX-License-Identifier: Apache-2.0
// UringEngine: the io_uring engine. Reads, writes and flushes go to an io_uring as readv,
// writev and fsync(DATASYNC) and stay in flight while the event loop goes on; an eventfd
// registered with the ring tells the event loop that completions are waiting. Short transfers
// are resubmitted for the rest; discard and write-zeroes are fallocate calls, as in the sync
// engine.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <vector>

#include "devices/virtio/block/block_engine.h"
#include "devices/virtio/block/disk_image.h"
#include "devices/virtio/block/sync_backend.h"
#include "vmm/base/event_fd.h"
#include "vmm/base/result.h"

struct io_uring;

namespace vmm::devices::virtio {

class UringEngine final : public BlockEngine {
public:
    /// Sets up a ring of `depth` entries (a power of two; the virtqueue's size) on the image.
    /// A host without io_uring (ENOSYS, or EPERM from a seccomp filter or the
    /// kernel.io_uring_disabled sysctl) fails with ErrorKind::Host and a message that says to
    /// use engine=sync.
    static Result<std::unique_ptr<UringEngine>> create(DiskImage image, uint32_t depth);
    /// Waits for what is still in flight: guest memory must outlive the I/O.
    ~UringEngine() override;
    UringEngine(UringEngine const&) = delete;
    UringEngine& operator=(UringEngine const&) = delete;

    uint64_t size() const override { return m_sync.size(); }
    size_t depth() const override { return m_ops.size(); }
    void submit(BlockIo const& io, uint32_t tag) override;
    void commit() override;
    size_t reap(std::vector<BlockCompletion>& out, bool wait) override;
    size_t in_flight() const override { return m_in_flight; }
    Result<void, int> discard(uint64_t offset, uint64_t length) override {
        return m_sync.discard(offset, length);
    }
    Result<void, int> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override {
        return m_sync.write_zeroes(offset, length, may_unmap);
    }
    /// The ring and its eventfd stay; submissions from now on name the new image's fd.
    void replace_image(DiskImage image) override { m_sync = SyncBackend(std::move(image)); }
    std::vector<HostEventSource> event_sources() const override;
    char const* name() const override { return "io_uring"; }

    /// Tests only: every completion's result (bytes or -errno, as in the CQE) passes through
    /// `filter` before the engine looks at it, to produce what a real ring rarely does (short
    /// transfers, EIO, ENOSPC).
    using ResultFilter = std::function<int(BlockOp op, int result)>;
    void set_result_filter(ResultFilter filter) { m_filter = std::move(filter); }

private:
    struct Op {
        bool busy = false;
        BlockOp op = BlockOp::Read;
        uint32_t tag = 0;
        uint64_t offset = 0;
        std::vector<iovec> iov;  // what is left to move, from `first` on
        size_t first = 0;
    };

    UringEngine(SyncBackend sync, EventFd event, std::unique_ptr<io_uring> ring, uint32_t depth);
    /// Queues an SQE for what is left of op `slot`.
    void prepare(uint32_t slot);
    /// Takes a CQE's result; true when the op is finished (error set), false when resubmitted.
    bool advance(Op& op, int result, int& error);

    SyncBackend m_sync;
    EventFd m_event;
    std::unique_ptr<io_uring> m_ring;
    std::vector<Op> m_ops;
    std::vector<uint32_t> m_free;
    size_t m_in_flight = 0;
    unsigned m_unsubmitted = 0;
    ResultFilter m_filter;
};

}  // namespace vmm::devices::virtio
