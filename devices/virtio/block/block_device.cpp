// SPDX-License-Identifier: Apache-2.0
// virtio-blk: a request is a header (type, sector) in the first readable bytes, data, and one
// status byte in the last writable byte (§5.2.6); framing across descriptors is free
// (§2.6.4), so everything is addressed by byte offset within the chain.
#include "devices/virtio/block/block_device.h"

#include <linux/virtio_blk.h>
#include <linux/virtio_ids.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>

#include <spdlog/spdlog.h>

namespace vmm::devices::virtio {

namespace {
constexpr uint32_t kHeaderBytes = sizeof(BlockRequestHeader);
constexpr uint32_t kSegmentBytes = sizeof(BlockRangeSegment);
constexpr uint32_t kKnownRangeFlags = VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP;

constexpr uint64_t bit(uint32_t feature) { return uint64_t{1} << feature; }

/// True when [sector, sector + count) lies inside [0, capacity); never overflows.
constexpr bool inside(uint64_t capacity, uint64_t sector, uint64_t count) {
    return sector <= capacity && count <= capacity - sector;
}
}  // namespace

BlockDevice::BlockDevice(std::unique_ptr<BlockEngine> engine, BlockOptions options)
    : m_engine(std::move(engine)), m_options(std::move(options)) {
    uint64_t const size = m_engine->size();
    // One slot per request in flight: no more than the queue holds or the engine takes.
    m_slots.resize(std::min<size_t>(kQueueSize, m_engine->depth()));
    for (size_t slot = m_slots.size(); slot > 0; --slot)
        m_free.push_back(static_cast<uint32_t>(slot - 1));
    if (size % kSectorSize != 0)
        spdlog::warn("virtio-blk '{}': {} bytes is not a whole number of 512-byte sectors; the "
                     "guest sees the first {} sectors and not the last {} bytes",
                     m_options.name, size, size / kSectorSize, size % kSectorSize);
    m_options.id.resize(std::min(m_options.id.size(), kIdBytes));
    m_config.capacity = size / kSectorSize;
    m_config.size_max = kSizeMax;
    m_config.seg_max = kSegMax;
    m_config.blk_size = kSectorSize;
    m_config.max_discard_sectors = kMaxDiscardSectors;
    m_config.max_discard_seg = kMaxDiscardSegments;
    m_config.discard_sector_alignment = kDiscardAlignment;
    m_config.max_write_zeroes_sectors = kMaxWriteZeroesSectors;
    m_config.max_write_zeroes_seg = kMaxWriteZeroesSegments;
    m_config.write_zeroes_may_unmap = 1;
}

uint32_t BlockDevice::device_id() const { return VIRTIO_ID_BLOCK; }

uint64_t BlockDevice::features() const {
    uint64_t features = bit(VIRTIO_BLK_F_SIZE_MAX) | bit(VIRTIO_BLK_F_SEG_MAX) |
                        bit(VIRTIO_BLK_F_BLK_SIZE) | bit(VIRTIO_BLK_F_FLUSH) |
                        bit(VIRTIO_BLK_F_DISCARD) | bit(VIRTIO_BLK_F_WRITE_ZEROES);
    if (m_options.read_only) features |= bit(VIRTIO_BLK_F_RO);
    return features;
}

void BlockDevice::read_config(uint32_t offset, std::span<uint8_t> data) {
    auto const* bytes = reinterpret_cast<uint8_t const*>(&m_config);
    std::memcpy(data.data(), bytes + offset, data.size());  // the transport checked the range
}

Result<void> BlockDevice::activate(uint64_t, std::span<Queue> queues, GuestMemory const& memory,
                                   VirtioInterrupt& interrupt) {
    m_queues = queues;
    m_memory = &memory;
    m_interrupt = &interrupt;
    return {};
}

BlockDevice::~BlockDevice() { reset(); }

void BlockDevice::process_queue(size_t index) {
    if (index >= m_queues.size() || !m_memory) return;
    pump();
}

std::vector<HostEventSource> BlockDevice::host_event_sources() const {
    return m_engine->event_sources();
}

void BlockDevice::process_host_event(size_t, uint32_t) {
    if (!m_memory) {
        // Not active: reset() left nothing in flight; only the eventfd needs clearing.
        m_completions.clear();
        m_engine->reap(m_completions, false);
        m_completions.clear();
        return;
    }
    pump();
}

void BlockDevice::pump() {
    Queue& queue = m_queues[0];
    for (;;) {
        while (!m_free.empty()) {
            auto chain = queue.pop();
            if (!chain) break;
            start(*chain);
        }
        m_engine->commit();
        // The sync engine has finished everything by now; io_uring may have some already.
        // Freed slots may let more requests in: go round until nothing moves.
        if (complete_finished() == 0) break;
    }
    if (queue.should_notify()) m_interrupt->signal_used();
}

void BlockDevice::reset() {
    // The engine may still be moving data in guest memory: wait for it, and drop the results
    // (after a reset the driver owns its rings again; nothing more is written to them).
    while (m_engine->in_flight() > 0) {
        m_completions.clear();
        m_engine->reap(m_completions, true);
    }
    m_completions.clear();
    m_free.clear();
    for (size_t slot = m_slots.size(); slot > 0; --slot) {
        m_slots[slot - 1].iov.clear();
        m_free.push_back(static_cast<uint32_t>(slot - 1));
    }
    m_queues = {};
    m_memory = nullptr;
    m_interrupt = nullptr;
}

void BlockDevice::start(DescriptorChain const& chain) {
    if (chain.writable_bytes == 0) {
        // Nowhere to put the status: the driver gets its buffers back with nothing written.
        refuse(Problem::NoStatus,
               "a request without a writable byte for its status was returned untouched", 0);
        m_queues[0].push(chain.head, 0);
        return;
    }
    GuestBuffer const& last = chain.writable.back();  // zero-length buffers were dropped
    GuestAddress const status_at{last.address.value + last.length - 1};
    uint32_t const slot = m_free.back();
    if (auto outcome = execute(chain, slot)) {
        finish(chain.head, status_at, *outcome);
        return;
    }
    m_free.pop_back();  // submitted: the slot is taken until its completion
    m_slots[slot].head = chain.head;
    m_slots[slot].status_at = status_at;
}

size_t BlockDevice::complete_finished(bool wait) {
    m_completions.clear();
    size_t const count = m_engine->reap(m_completions, wait);
    for (BlockCompletion const& done : m_completions) {
        Slot& slot = m_slots[done.tag];
        Outcome outcome{VIRTIO_BLK_S_OK, slot.written};
        if (done.error != 0) outcome = host_error(slot.problem, slot.what, done.error);
        slot.iov.clear();
        m_free.push_back(done.tag);
        finish(slot.head, slot.status_at, outcome);
    }
    return count;
}

void BlockDevice::finish(uint16_t head, GuestAddress status_at, Outcome outcome) {
    if (!m_memory->write_obj(status_at, outcome.status)) {
        m_queues[0].push(head, 0);
        return;
    }
    m_queues[0].push(head, outcome.written + 1);
}

std::optional<BlockDevice::Outcome> BlockDevice::execute(DescriptorChain const& chain,
                                                        uint32_t slot) {
    if (chain.readable_bytes < kHeaderBytes)
        return refuse(Problem::BadHeader,
                      fmt::format("a request's header needs {} readable bytes; it had {}",
                                  kHeaderBytes, chain.readable_bytes),
                      VIRTIO_BLK_S_IOERR);
    BlockRequestHeader header{};
    if (!gather(chain.readable, 0, kHeaderBytes, m_iov))
        return refuse(Problem::BadBuffer, "a buffer outside guest RAM", VIRTIO_BLK_S_IOERR);
    auto* to = reinterpret_cast<uint8_t*>(&header);
    for (iovec const& piece : m_iov) {
        std::memcpy(to, piece.iov_base, piece.iov_len);
        to += piece.iov_len;
    }
    switch (header.type) {
        case VIRTIO_BLK_T_IN:
        case VIRTIO_BLK_T_OUT: return transfer(header, chain, slot);
        case VIRTIO_BLK_T_FLUSH: return flush(slot);
        case VIRTIO_BLK_T_GET_ID: return get_id(chain);
        case VIRTIO_BLK_T_DISCARD:
        case VIRTIO_BLK_T_WRITE_ZEROES: return ranges(header, chain);
        default:
            return refuse(Problem::UnknownType,
                          fmt::format("request type {} is not supported", header.type),
                          VIRTIO_BLK_S_UNSUPP);
    }
}

std::optional<BlockDevice::Outcome> BlockDevice::flush(uint32_t slot) {
    m_slots[slot].written = 0;
    m_slots[slot].problem = Problem::FlushFailed;
    m_slots[slot].what = "flush";
    m_engine->submit({BlockOp::Flush, 0, {}}, slot);
    return std::nullopt;
}

std::optional<BlockDevice::Outcome> BlockDevice::transfer(BlockRequestHeader const& header,
                                                          DescriptorChain const& chain,
                                                          uint32_t slot) {
    bool const in = header.type == VIRTIO_BLK_T_IN;
    if (!in && m_options.read_only)
        return refuse(Problem::ReadOnly, "a write to a read-only disk was refused",
                      VIRTIO_BLK_S_IOERR);
    // IN: every writable byte but the status; OUT: every readable byte after the header.
    uint64_t const length = in ? chain.writable_bytes - 1 : chain.readable_bytes - kHeaderBytes;
    if (length % kSectorSize != 0)
        return refuse(Problem::UnalignedData,
                      fmt::format("a request's data is {} bytes, not a multiple of {}", length,
                                  kSectorSize),
                      VIRTIO_BLK_S_IOERR);
    if (!inside(m_config.capacity, header.sector, length / kSectorSize))
        return refuse(Problem::PastCapacity,
                      fmt::format("a request for {} sectors at sector {} reaches past the "
                                  "disk's {} sectors",
                                  length / kSectorSize, header.sector, m_config.capacity),
                      VIRTIO_BLK_S_IOERR);
    if (length == 0) return Outcome{VIRTIO_BLK_S_OK, 0};
    Slot& pending = m_slots[slot];
    bool const gathered = in ? gather(chain.writable, 0, length, pending.iov)
                             : gather(chain.readable, kHeaderBytes, length, pending.iov);
    if (!gathered)
        return refuse(Problem::BadBuffer, "a buffer outside guest RAM", VIRTIO_BLK_S_IOERR);
    if (pending.iov.size() > kSegMax)
        return refuse(Problem::TooManySegments,
                      fmt::format("a request has {} data buffers; seg_max is {}",
                                  pending.iov.size(), kSegMax),
                      VIRTIO_BLK_S_IOERR);
    uint64_t const offset = header.sector * kSectorSize;  // inside the capacity: no overflow
    pending.written = in ? static_cast<uint32_t>(length) : 0;
    pending.problem = in ? Problem::ReadFailed : Problem::WriteFailed;
    pending.what = in ? "read" : "write";
    m_engine->submit({in ? BlockOp::Read : BlockOp::Write, offset, pending.iov}, slot);
    return std::nullopt;
}

BlockDevice::Outcome BlockDevice::get_id(DescriptorChain const& chain) {
    // The id goes in the writable bytes before the status, zero padded to 20 bytes; a shorter
    // buffer gets what fits.
    uint64_t const length = std::min<uint64_t>(chain.writable_bytes - 1, kIdBytes);
    if (!gather(chain.writable, 0, length, m_iov))
        return refuse(Problem::BadBuffer, "a buffer outside guest RAM", VIRTIO_BLK_S_IOERR);
    std::array<uint8_t, kIdBytes> id{};
    std::ranges::copy(m_options.id, id.begin());
    uint8_t const* from = id.data();
    for (iovec const& piece : m_iov) {
        std::memcpy(piece.iov_base, from, piece.iov_len);
        from += piece.iov_len;
    }
    return {VIRTIO_BLK_S_OK, static_cast<uint32_t>(length)};
}

BlockDevice::Outcome BlockDevice::ranges(BlockRequestHeader const& header,
                                         DescriptorChain const& chain) {
    bool const discard = header.type == VIRTIO_BLK_T_DISCARD;
    if (m_options.read_only)
        return refuse(Problem::ReadOnly,
                      "a discard or write-zeroes on a read-only disk was refused",
                      VIRTIO_BLK_S_IOERR);
    uint32_t const length = chain.readable_bytes - kHeaderBytes;
    uint32_t const max_segments = discard ? kMaxDiscardSegments : kMaxWriteZeroesSegments;
    if (length == 0 || length % kSegmentBytes != 0 || length / kSegmentBytes > max_segments)
        return refuse(Problem::BadSegments,
                      fmt::format("a discard or write-zeroes request has {} bytes of segments: "
                                  "not 1 to {} segments of {} bytes",
                                  length, max_segments, kSegmentBytes),
                      VIRTIO_BLK_S_IOERR);
    std::vector<BlockRangeSegment> segments(length / kSegmentBytes);
    if (!gather(chain.readable, kHeaderBytes, length, m_iov))
        return refuse(Problem::BadBuffer, "a buffer outside guest RAM", VIRTIO_BLK_S_IOERR);
    auto* to = reinterpret_cast<uint8_t*>(segments.data());
    for (iovec const& piece : m_iov) {
        std::memcpy(to, piece.iov_base, piece.iov_len);
        to += piece.iov_len;
    }
    // Check every segment before touching the image (§5.2.6.2: unknown flags, or unmap on a
    // discard, are UNSUPP).
    uint32_t const max_sectors = discard ? kMaxDiscardSectors : kMaxWriteZeroesSectors;
    for (BlockRangeSegment const& segment : segments) {
        if ((segment.flags & ~kKnownRangeFlags) != 0 ||
            (discard && (segment.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0))
            return refuse(Problem::BadFlags,
                          fmt::format("a {} segment has flags {:#x}",
                                      discard ? "discard" : "write-zeroes", segment.flags),
                          VIRTIO_BLK_S_UNSUPP);
        if (segment.num_sectors > max_sectors ||
            !inside(m_config.capacity, segment.sector, segment.num_sectors))
            return refuse(Problem::PastCapacity,
                          fmt::format("a segment of {} sectors at sector {} is past the disk's "
                                      "{} sectors or over the limit of {}",
                                      segment.num_sectors, segment.sector, m_config.capacity,
                                      max_sectors),
                          VIRTIO_BLK_S_IOERR);
    }
    for (BlockRangeSegment const& segment : segments) {
        uint64_t const offset = segment.sector * kSectorSize;
        uint64_t const bytes = uint64_t{segment.num_sectors} * kSectorSize;
        if (discard) {
            if (auto r = m_engine->discard(offset, bytes); !r)
                return host_error(Problem::DiscardFailed, "discard", r.error());
        } else {
            bool const unmap = (segment.flags & VIRTIO_BLK_WRITE_ZEROES_FLAG_UNMAP) != 0;
            if (auto r = m_engine->write_zeroes(offset, bytes, unmap); !r)
                return host_error(Problem::WriteZeroesFailed, "write-zeroes", r.error());
        }
    }
    return {VIRTIO_BLK_S_OK, 0};
}

BlockDevice::Outcome BlockDevice::refuse(Problem problem, std::string const& detail,
                                         uint8_t status) {
    if (m_logged[static_cast<size_t>(problem)].first())
        spdlog::warn("virtio-blk '{}': {} (the guest driver is faulty; logged once)",
                     m_options.name, detail);
    return {status, 0};
}

BlockDevice::Outcome BlockDevice::host_error(Problem problem, char const* what, int code) {
    if (m_logged[static_cast<size_t>(problem)].first()) {
        std::string const why = code == ENODATA ? "the image ended early (did it shrink?)"
                                                : std::strerror(code);
        spdlog::error("virtio-blk '{}': {} failed: {}; the guest sees an I/O error (logged once)",
                      m_options.name, what, why);
    }
    return {VIRTIO_BLK_S_IOERR, 0};
}

bool BlockDevice::gather(std::span<GuestBuffer const> buffers, uint64_t skip, uint64_t length,
                         std::vector<iovec>& out) const {
    out.clear();
    for (GuestBuffer const& buffer : buffers) {
        if (length == 0) break;
        if (skip >= buffer.length) {
            skip -= buffer.length;
            continue;
        }
        uint64_t const take = std::min<uint64_t>(buffer.length - skip, length);
        auto bytes = m_memory->slice(GuestAddress{buffer.address.value + skip}, take);
        if (!bytes) return false;
        out.push_back({bytes->data(), bytes->size()});
        skip = 0;
        length -= take;
    }
    return length == 0;
}

bool BlockDevice::replace_image(DiskImage image, std::string name) {
    // What is in flight was addressed to the old image: let it finish there first.
    if (m_memory != nullptr) {
        while (m_engine->in_flight() > 0) complete_finished(true);
        if (m_queues[0].should_notify()) m_interrupt->signal_used();
    }
    m_engine->replace_image(std::move(image));
    m_options.name = std::move(name);
    uint64_t const size = m_engine->size();
    if (size % kSectorSize != 0)
        spdlog::warn("virtio-blk '{}': {} bytes is not a whole number of 512-byte sectors; the "
                     "guest sees the first {} sectors and not the last {} bytes",
                     m_options.name, size, size / kSectorSize, size % kSectorSize);
    uint64_t const old_capacity = m_config.capacity;
    m_config.capacity = size / kSectorSize;
    return m_config.capacity != old_capacity;
}

}  // namespace vmm::devices::virtio
