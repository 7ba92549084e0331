// SPDX-License-Identifier: Apache-2.0
// The io_uring engine: one ring per disk, served on the event-loop thread only (submission
// from process_queue, completion from the ring's eventfd), so it needs no lock of its own.
#include "devices/virtio/block/uring_engine.h"

#include <liburing.h>
#include <sys/epoll.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstring>

#include <spdlog/spdlog.h>

#include "vmm/base/log.h"

namespace vmm::devices::virtio {

Result<std::unique_ptr<UringEngine>> UringEngine::create(DiskImage image, uint32_t depth) {
    auto event = TRY(EventFd::create());
    auto ring = std::make_unique<io_uring>();
    std::string const path = image.path;
    if (int const r = ::io_uring_queue_init(depth, ring.get(), 0); r < 0) {
        int const code = -r;
        std::string why = std::strerror(code);
        if (code == ENOSYS)
            why = "this kernel has no io_uring (ENOSYS)";
        else if (code == EPERM)
            why = "io_uring is forbidden here (EPERM: a container's seccomp filter, or the "
                  "kernel.io_uring_disabled sysctl)";
        else if (code == ENOMEM)
            why = "out of locked memory for the ring (ENOMEM: RLIMIT_MEMLOCK)";
        return fail(ErrorKind::Host,
                    fmt::format("--disk '{}': engine=io_uring: cannot set up an io_uring: {}; use "
                                "engine=sync",
                                path, why));
    }
    if (int const r = ::io_uring_register_eventfd(ring.get(), event.fd()); r < 0) {
        ::io_uring_queue_exit(ring.get());
        return fail(ErrorKind::Host,
                    fmt::format("--disk '{}': engine=io_uring: cannot register the completion "
                                "eventfd: {}; use engine=sync",
                                path, std::strerror(-r)));
    }
    return std::unique_ptr<UringEngine>(
        new UringEngine(SyncBackend(std::move(image)), std::move(event), std::move(ring), depth));
}

UringEngine::UringEngine(SyncBackend sync, EventFd event, std::unique_ptr<io_uring> ring,
                         uint32_t depth)
    : m_sync(std::move(sync)), m_event(std::move(event)), m_ring(std::move(ring)), m_ops(depth) {
    m_free.reserve(depth);
    for (uint32_t slot = depth; slot > 0; --slot) m_free.push_back(slot - 1);
}

UringEngine::~UringEngine() {
    std::vector<BlockCompletion> ignored;
    while (m_in_flight > 0) {
        ignored.clear();
        reap(ignored, true);
    }
    ::io_uring_queue_exit(m_ring.get());
}

std::vector<HostEventSource> UringEngine::event_sources() const {
    return {{m_event.fd(), EPOLLIN}};
}

void UringEngine::submit(BlockIo const& io, uint32_t tag) {
    // The device never goes past depth(); a free slot is always there.
    uint32_t const slot = m_free.back();
    m_free.pop_back();
    Op& op = m_ops[slot];
    op.busy = true;
    op.op = io.op;
    op.tag = tag;
    op.offset = io.offset;
    op.iov.assign(io.iov.begin(), io.iov.end());
    op.first = 0;
    ++m_in_flight;
    prepare(slot);
}

void UringEngine::prepare(uint32_t slot) {
    io_uring_sqe* sqe = ::io_uring_get_sqe(m_ring.get());
    if (!sqe) {
        // Not while in flight <= ring entries, but never lose an op: push the queue and retry.
        ::io_uring_submit(m_ring.get());
        sqe = ::io_uring_get_sqe(m_ring.get());
    }
    if (!sqe) {
        spdlog::error("virtio-blk: io_uring submission queue full; this is a bug");
        std::abort();
    }
    Op const& op = m_ops[slot];
    int const fd = m_sync.fd();
    auto const count = static_cast<unsigned>(std::min<size_t>(op.iov.size() - op.first, IOV_MAX));
    switch (op.op) {
        case BlockOp::Read:
            ::io_uring_prep_readv(sqe, fd, &op.iov[op.first], count, op.offset);
            break;
        case BlockOp::Write:
            ::io_uring_prep_writev(sqe, fd, &op.iov[op.first], count, op.offset);
            break;
        case BlockOp::Flush: ::io_uring_prep_fsync(sqe, fd, IORING_FSYNC_DATASYNC); break;
    }
    ::io_uring_sqe_set_data64(sqe, slot);
}

void UringEngine::commit() {
    while (::io_uring_sq_ready(m_ring.get()) > 0) {
        int const r = ::io_uring_submit(m_ring.get());
        if (r > 0) continue;
        if (r == -EINTR) continue;
        // EAGAIN/EBUSY: the kernel is short of resources; the SQEs stay queued and the next
        // commit (at the next completion or notification) tries again.
        static LogOnce logged;
        if (r < 0 && logged.first())
            spdlog::warn("virtio-blk: io_uring_submit: {}; retrying later (logged once)",
                         std::strerror(-r));
        return;
    }
}

bool UringEngine::advance(Op& op, int result, int& error) {
    if (op.op == BlockOp::Flush) {
        error = result < 0 ? -result : 0;
        return true;
    }
    if (result == -EINTR || result == -EAGAIN) return false;  // the same again
    if (result < 0) {
        error = -result;
        return true;
    }
    if (result == 0) {  // end of file (read), or a write that moved nothing
        error = op.op == BlockOp::Read ? ENODATA : EIO;
        return true;
    }
    auto done = static_cast<size_t>(result);
    op.offset += done;
    while (done > 0 && op.first < op.iov.size()) {
        iovec& piece = op.iov[op.first];
        size_t const step = std::min(done, piece.iov_len);
        piece.iov_base = static_cast<uint8_t*>(piece.iov_base) + step;
        piece.iov_len -= step;
        done -= step;
        if (piece.iov_len == 0) ++op.first;
    }
    while (op.first < op.iov.size() && op.iov[op.first].iov_len == 0) ++op.first;
    if (op.first == op.iov.size()) {
        error = 0;
        return true;
    }
    return false;  // a short transfer: the rest goes again
}

size_t UringEngine::reap(std::vector<BlockCompletion>& out, bool wait) {
    m_event.consume();  // before looking at the CQ, so no completion goes unannounced
    size_t reaped = 0;
    for (;;) {
        io_uring_cqe* cqe = nullptr;
        while (::io_uring_peek_cqe(m_ring.get(), &cqe) == 0 && cqe) {
            auto const slot = static_cast<uint32_t>(::io_uring_cqe_get_data64(cqe));
            int result = cqe->res;
            ::io_uring_cqe_seen(m_ring.get(), cqe);
            if (slot >= m_ops.size() || !m_ops[slot].busy) continue;  // not ours: impossible
            Op& op = m_ops[slot];
            if (m_filter) result = m_filter(op.op, result);
            int error = 0;
            if (!advance(op, result, error)) {
                prepare(slot);
                continue;
            }
            op.busy = false;
            op.iov.clear();
            m_free.push_back(slot);
            --m_in_flight;
            out.push_back({op.tag, error});
            ++reaped;
        }
        commit();  // resubmitted rests
        if (reaped > 0 || !wait || m_in_flight == 0) return reaped;
        int r;
        do {
            r = ::io_uring_submit_and_wait(m_ring.get(), 1);  // submits what commit() could not
        } while (r == -EINTR || r == -EAGAIN || r == -EBUSY);
        if (r < 0) {
            spdlog::error("virtio-blk: waiting for io_uring completions: {}", std::strerror(-r));
            std::abort();  // the guest's memory may still be written: do not go on
        }
    }
}

}  // namespace vmm::devices::virtio
