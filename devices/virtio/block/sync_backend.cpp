// SPDX-License-Identifier: Apache-2.0
// The sync engine: blocking syscalls on the image's descriptor.
#include "devices/virtio/block/sync_backend.h"

#include "devices/virtio/block/block_engine.h"

#include <fcntl.h>
#include <linux/falloc.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <climits>
#include <vector>

#include <spdlog/spdlog.h>

#include "vmm/base/log.h"

namespace vmm::devices::virtio {

namespace {

enum class Direction { Read, Write };

/// preadv/pwritev until every byte moved: partial transfers go on where they stopped, EINTR
/// retries, a read that returns 0 (end of file) fails with ENODATA.
Result<void, int> transfer(int fd, Direction direction, uint64_t offset,
                           std::span<iovec const> iov) {
    std::vector<iovec> left(iov.begin(), iov.end());
    size_t first = 0;
    while (first < left.size()) {
        if (left[first].iov_len == 0) {
            ++first;
            continue;
        }
        int const count = static_cast<int>(std::min<size_t>(left.size() - first, IOV_MAX));
        auto const at = static_cast<off_t>(offset);
        ssize_t const n = direction == Direction::Read ? ::preadv(fd, &left[first], count, at)
                                                       : ::pwritev(fd, &left[first], count, at);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) return std::unexpected(errno);
        if (n == 0) return std::unexpected(direction == Direction::Read ? ENODATA : EIO);
        offset += static_cast<uint64_t>(n);
        auto done = static_cast<size_t>(n);
        while (done > 0) {
            size_t const step = std::min(done, left[first].iov_len);
            left[first].iov_base = static_cast<uint8_t*>(left[first].iov_base) + step;
            left[first].iov_len -= step;
            done -= step;
            if (left[first].iov_len == 0) ++first;
        }
    }
    return {};
}

Result<void, int> allocate(int fd, int mode, uint64_t offset, uint64_t length) {
    while (::fallocate(fd, mode, static_cast<off_t>(offset), static_cast<off_t>(length)) < 0) {
        if (errno != EINTR) return std::unexpected(errno);
    }
    return {};
}

bool unsupported(int code) { return code == EOPNOTSUPP || code == ENOSYS || code == EINVAL; }

}  // namespace

void SyncEngine::submit(BlockIo const& io, uint32_t tag) {
    Result<void, int> result;
    switch (io.op) {
        case BlockOp::Read: result = m_backend->read(io.offset, io.iov); break;
        case BlockOp::Write: result = m_backend->write(io.offset, io.iov); break;
        case BlockOp::Flush: result = m_backend->flush(); break;
    }
    m_done.push_back({tag, result ? 0 : result.error()});
}

size_t SyncEngine::reap(std::vector<BlockCompletion>& out, bool) {
    size_t const count = m_done.size();
    out.insert(out.end(), m_done.begin(), m_done.end());
    m_done.clear();
    return count;
}

Result<void, int> SyncBackend::read(uint64_t offset, std::span<iovec const> iov) {
    return transfer(m_image.fd.get(), Direction::Read, offset, iov);
}

Result<void, int> SyncBackend::write(uint64_t offset, std::span<iovec const> iov) {
    return transfer(m_image.fd.get(), Direction::Write, offset, iov);
}

Result<void, int> SyncBackend::flush() {
    while (::fdatasync(m_image.fd.get()) < 0) {
        if (errno != EINTR) return std::unexpected(errno);
    }
    return {};
}

Result<void, int> SyncBackend::discard(uint64_t offset, uint64_t length) {
    auto r = allocate(m_image.fd.get(), FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, offset, length);
    if (!r && unsupported(r.error())) {
        static LogOnce no_holes;
        if (no_holes.first())
            spdlog::info("virtio-blk '{}': the file system cannot punch holes; discards are "
                         "ignored",
                         m_image.path);
        return {};
    }
    return r;
}

Result<void, int> SyncBackend::write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) {
    int const fd = m_image.fd.get();
    constexpr int kPunch = FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE;
    constexpr int kZero = FALLOC_FL_ZERO_RANGE | FALLOC_FL_KEEP_SIZE;
    for (int const mode : may_unmap ? std::array{kPunch, kZero} : std::array{kZero, kPunch}) {
        auto r = allocate(fd, mode, offset, length);
        if (r || !unsupported(r.error())) return r;
    }
    return write_zero_bytes(offset, length);
}

Result<void, int> SyncBackend::write_zero_bytes(uint64_t offset, uint64_t length) {
    static constexpr std::array<uint8_t, 64 * 1024> kZeroes{};
    while (length > 0) {
        size_t const chunk = std::min<uint64_t>(length, kZeroes.size());
        iovec const one{const_cast<uint8_t*>(kZeroes.data()), chunk};
        TRY(transfer(m_image.fd.get(), Direction::Write, offset, std::span(&one, 1)));
        offset += chunk;
        length -= chunk;
    }
    return {};
}

void SyncEngine::replace_image(DiskImage image) {
    m_backend = std::make_unique<SyncBackend>(std::move(image));
}

}  // namespace vmm::devices::virtio
