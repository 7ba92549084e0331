// SPDX-License-Identifier: Apache-2.0
// BlockDevice: virtio-blk (virtio 1.2 §5.2), one request queue over a BlockEngine. Every
// request is checked before any I/O; a bad one completes with VIRTIO_BLK_S_IOERR or _UNSUPP
// and the device goes on. Reads, writes and flushes are submitted to the engine and completed
// when it reports them (at once for the sync engine, from the engine's eventfd on the event
// loop for io_uring), at most the engine's depth or the queue size at a time.
#pragma once

#include <sys/uio.h>

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "devices/virtio/block/block_backend.h"
#include "devices/virtio/block/block_engine.h"
#include "devices/virtio/virtio_device.h"
#include "vmm/base/log.h"

namespace vmm::devices::virtio {

/// struct virtio_blk_config (§5.2.4), ours because <linux/virtio_blk.h> is C: little endian,
/// naturally aligned, 72 bytes through the secure-erase fields (which we do not offer).
struct BlockConfig {
    uint64_t capacity;  // in 512-byte sectors
    uint32_t size_max;
    uint32_t seg_max;
    uint16_t cylinders;  // geometry: not offered
    uint8_t heads;
    uint8_t sectors;
    uint32_t blk_size;
    uint8_t physical_block_exp;  // topology: not offered
    uint8_t alignment_offset;
    uint16_t min_io_size;
    uint32_t opt_io_size;
    uint8_t writeback;  // CONFIG_WCE: not offered
    uint8_t unused0;
    uint16_t num_queues;  // MQ: not offered
    uint32_t max_discard_sectors;
    uint32_t max_discard_seg;
    uint32_t discard_sector_alignment;
    uint32_t max_write_zeroes_sectors;
    uint32_t max_write_zeroes_seg;
    uint8_t write_zeroes_may_unmap;
    uint8_t unused1[3];
    uint32_t max_secure_erase_sectors;
    uint32_t max_secure_erase_seg;
    uint32_t secure_erase_sector_alignment;
};
static_assert(sizeof(BlockConfig) == 72);
static_assert(offsetof(BlockConfig, blk_size) == 20);
static_assert(offsetof(BlockConfig, writeback) == 32);
static_assert(offsetof(BlockConfig, max_discard_sectors) == 36);
static_assert(offsetof(BlockConfig, max_write_zeroes_sectors) == 48);
static_assert(offsetof(BlockConfig, write_zeroes_may_unmap) == 56);

/// struct virtio_blk_outhdr (§5.2.6): the first 16 readable bytes of every request.
struct BlockRequestHeader {
    uint32_t type;  // VIRTIO_BLK_T_*
    uint32_t reserved;
    uint64_t sector;
};
static_assert(sizeof(BlockRequestHeader) == 16);

/// struct virtio_blk_discard_write_zeroes (§5.2.6): the data of DISCARD and WRITE_ZEROES.
struct BlockRangeSegment {
    uint64_t sector;
    uint32_t num_sectors;
    uint32_t flags;  // bit 0: unmap (WRITE_ZEROES only)
};
static_assert(sizeof(BlockRangeSegment) == 16);

struct BlockOptions {
    std::string name;  // for log messages: the image's path
    bool read_only = false;
    std::string id;  // GET_ID's answer, at most kIdBytes
};

class BlockDevice final : public VirtioDevice {
public:
    static constexpr uint16_t kQueueSize = 256;
    static constexpr uint32_t kSectorSize = 512;
    /// Data buffers per request (seg_max): with the header and status a chain fits the queue.
    static constexpr uint32_t kSegMax = kQueueSize - 2;
    /// Largest data buffer the driver should send (size_max, bytes).
    static constexpr uint32_t kSizeMax = 1024 * 1024;
    /// Discard is cheap (hole punching); write-zeroes may fall back to writing, so it is kept
    /// smaller to bound the time one request holds the event loop.
    static constexpr uint32_t kMaxDiscardSectors = 4 * 1024 * 1024;  // 2 GiB
    static constexpr uint32_t kMaxDiscardSegments = 32;
    static constexpr uint32_t kDiscardAlignment = 8;                // sectors: 4 KiB
    static constexpr uint32_t kMaxWriteZeroesSectors = 256 * 1024;  // 128 MiB
    static constexpr uint32_t kMaxWriteZeroesSegments = 1;
    static constexpr size_t kIdBytes = 20;  // VIRTIO_BLK_ID_BYTES

    /// The capacity is the engine's size in whole sectors; a partial last sector is left out
    /// (logged once).
    BlockDevice(std::unique_ptr<BlockEngine> engine, BlockOptions options);
    /// The sync engine on `backend` (a SyncBackend, or a test's mock).
    BlockDevice(std::unique_ptr<BlockBackend> backend, BlockOptions options)
        : BlockDevice(std::make_unique<SyncEngine>(std::move(backend)), std::move(options)) {}
    /// Waits for requests in flight (the engine's destructor does).
    ~BlockDevice() override;

    uint32_t device_id() const override;
    uint64_t features() const override;
    std::span<uint16_t const> queue_max_sizes() const override { return kQueueSizes; }
    uint32_t config_size() const override { return sizeof(BlockConfig); }
    void read_config(uint32_t offset, std::span<uint8_t> data) override;

    Result<void> activate(uint64_t features, std::span<Queue> queues, GuestMemory const& memory,
                          VirtioInterrupt& interrupt) override;
    void process_queue(size_t index) override;
    /// Waits for every request in flight to finish, without completing them to the driver.
    void reset() override;
    std::vector<HostEventSource> host_event_sources() const override;
    /// The engine's eventfd: completes what finished, then takes new requests if the queue
    /// had more than fit in flight.
    void process_host_event(size_t index, uint32_t events) override;

    uint64_t capacity() const { return m_config.capacity; }
    /// Requests submitted to the engine and not yet completed.
    size_t in_flight() const { return m_slots.size() - m_free.size(); }

    /// A drive update: requests in flight finish on the old image (completed to the driver),
    /// later ones go to `image` (named `name` in log messages) on the same engine, and the
    /// capacity becomes its size in whole sectors. For the transport's change_config(), which
    /// holds its lock and announces the change; returns whether the capacity changed.
    bool replace_image(DiskImage image, std::string name);

private:
    /// What went wrong with a request; each is logged once per device.
    enum class Problem : uint8_t {
        NoStatus,
        BadHeader,
        UnalignedData,
        TooManySegments,
        PastCapacity,
        ReadOnly,
        BadSegments,
        BadFlags,
        UnknownType,
        ReadFailed,
        WriteFailed,
        FlushFailed,
        DiscardFailed,
        WriteZeroesFailed,
        BadBuffer,
        Count,
    };
    struct Outcome {
        uint8_t status;
        uint32_t written;  // bytes of data written into guest buffers
    };
    static constexpr std::array<uint16_t, 1> kQueueSizes{kQueueSize};

    /// A request handed to the engine: what its completion needs.
    struct Slot {
        uint16_t head = 0;
        GuestAddress status_at{0};
        uint32_t written = 0;  // data bytes written into guest buffers on success
        Problem problem = Problem::ReadFailed;
        char const* what = "";
        std::vector<iovec> iov;  // the engine's view of the data: lives until completion
    };

    /// Takes requests while slots are free, completing or submitting each; then completes what
    /// the engine finished, and again until neither moves; then interrupts if the driver wants.
    void pump();
    void start(DescriptorChain const& chain);
    /// Completes what the engine reports; returns how many.
    size_t complete_finished(bool wait = false);
    void finish(uint16_t head, GuestAddress status_at, Outcome outcome);
    /// nullopt: submitted to the engine as slot `slot`, completed later.
    std::optional<Outcome> execute(DescriptorChain const& chain, uint32_t slot);
    std::optional<Outcome> transfer(BlockRequestHeader const& header,
                                    DescriptorChain const& chain, uint32_t slot);
    std::optional<Outcome> flush(uint32_t slot);
    Outcome get_id(DescriptorChain const& chain);
    Outcome ranges(BlockRequestHeader const& header, DescriptorChain const& chain);
    Outcome refuse(Problem problem, std::string const& detail, uint8_t status);
    Outcome host_error(Problem problem, char const* what, int code);
    /// Host views of bytes [skip, skip + length) of buffers; false when one is not in RAM.
    bool gather(std::span<GuestBuffer const> buffers, uint64_t skip, uint64_t length,
                std::vector<iovec>& out) const;

    std::unique_ptr<BlockEngine> m_engine;
    BlockOptions m_options;
    BlockConfig m_config{};
    std::array<LogOnce, static_cast<size_t>(Problem::Count)> m_logged;
    std::vector<iovec> m_iov;  // reused between requests
    std::vector<Slot> m_slots;
    std::vector<uint32_t> m_free;  // indices into m_slots
    std::vector<BlockCompletion> m_completions;  // reused

    std::span<Queue> m_queues;
    GuestMemory const* m_memory = nullptr;
    VirtioInterrupt* m_interrupt = nullptr;
};

}  // namespace vmm::devices::virtio
