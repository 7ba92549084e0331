// SPDX-License-Identifier: Apache-2.0
// CountingEngine (a BlockEngine in front of another) and CountingBackend (the same for a
// BlockBackend) count the I/O for the metrics: read/write operations and bytes, flushes,
// discards, write-zeroes, failures, whatever the engine. The counters outlive a drive update.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include <vector>

#include "devices/virtio/block/block_backend.h"
#include "devices/virtio/block/block_engine.h"

namespace vmm::devices::virtio {

/// Relaxed atomics: written on the thread doing the I/O, read by the metrics from any thread.
struct BlockCounters {
    std::atomic<uint64_t> read_count{0};
    std::atomic<uint64_t> read_bytes{0};
    std::atomic<uint64_t> write_count{0};
    std::atomic<uint64_t> write_bytes{0};
    std::atomic<uint64_t> flush_count{0};
    std::atomic<uint64_t> discard_count{0};
    std::atomic<uint64_t> write_zeroes_count{0};
    std::atomic<uint64_t> io_errors{0};     // operations the backend failed
    std::atomic<uint64_t> update_count{0};  // drive updates (a new image) that took effect
    std::atomic<uint64_t> update_fails{0};  // drive updates refused

    static void add(std::atomic<uint64_t>& counter, uint64_t value = 1) {
        counter.fetch_add(value, std::memory_order_relaxed);
    }
};

class CountingBackend final : public BlockBackend {
public:
    CountingBackend(std::unique_ptr<BlockBackend> inner, std::shared_ptr<BlockCounters> counters)
        : m_inner(std::move(inner)), m_counters(std::move(counters)) {}

    uint64_t size() const override { return m_inner->size(); }
    Result<void, int> read(uint64_t offset, std::span<iovec const> iov) override {
        return count(m_inner->read(offset, iov), m_counters->read_count, m_counters->read_bytes,
                     bytes(iov));
    }
    Result<void, int> write(uint64_t offset, std::span<iovec const> iov) override {
        return count(m_inner->write(offset, iov), m_counters->write_count,
                     m_counters->write_bytes, bytes(iov));
    }
    Result<void, int> flush() override { return count(m_inner->flush(), m_counters->flush_count); }
    Result<void, int> discard(uint64_t offset, uint64_t length) override {
        return count(m_inner->discard(offset, length), m_counters->discard_count);
    }
    Result<void, int> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override {
        return count(m_inner->write_zeroes(offset, length, may_unmap),
                     m_counters->write_zeroes_count);
    }

private:
    static uint64_t bytes(std::span<iovec const> iov) {
        uint64_t total = 0;
        for (iovec const& v : iov) total += v.iov_len;
        return total;
    }
    Result<void, int> count(Result<void, int> result, std::atomic<uint64_t>& operations,
                            std::atomic<uint64_t>* byte_counter = nullptr, uint64_t length = 0) {
        if (!result) {
            BlockCounters::add(m_counters->io_errors);
            return result;
        }
        BlockCounters::add(operations);
        if (byte_counter != nullptr) BlockCounters::add(*byte_counter, length);
        return result;
    }
    Result<void, int> count(Result<void, int> result, std::atomic<uint64_t>& operations,
                            std::atomic<uint64_t>& byte_counter, uint64_t length) {
        return count(std::move(result), operations, &byte_counter, length);
    }

    std::unique_ptr<BlockBackend> m_inner;
    std::shared_ptr<BlockCounters> m_counters;
};

/// Operations are counted when they complete (reap), by what their submit() asked for.
class CountingEngine final : public BlockEngine {
public:
    CountingEngine(std::unique_ptr<BlockEngine> inner, std::shared_ptr<BlockCounters> counters)
        : m_inner(std::move(inner)), m_counters(std::move(counters)) {}

    uint64_t size() const override { return m_inner->size(); }
    size_t depth() const override { return m_inner->depth(); }
    void submit(BlockIo const& io, uint32_t tag) override {
        if (tag >= m_pending.size()) m_pending.resize(tag + 1);
        uint64_t bytes = 0;
        for (iovec const& v : io.iov) bytes += v.iov_len;
        m_pending[tag] = {io.op, bytes};
        m_inner->submit(io, tag);
    }
    void commit() override { m_inner->commit(); }
    size_t reap(std::vector<BlockCompletion>& out, bool wait) override {
        size_t const first = out.size();
        size_t const count = m_inner->reap(out, wait);
        for (size_t n = first; n < out.size(); ++n) {
            BlockCompletion const& done = out[n];
            if (done.error != 0) {
                BlockCounters::add(m_counters->io_errors);
                continue;
            }
            Pending const pending = done.tag < m_pending.size() ? m_pending[done.tag] : Pending{};
            switch (pending.op) {
                case BlockOp::Read:
                    BlockCounters::add(m_counters->read_count);
                    BlockCounters::add(m_counters->read_bytes, pending.bytes);
                    break;
                case BlockOp::Write:
                    BlockCounters::add(m_counters->write_count);
                    BlockCounters::add(m_counters->write_bytes, pending.bytes);
                    break;
                case BlockOp::Flush: BlockCounters::add(m_counters->flush_count); break;
            }
        }
        return count;
    }
    size_t in_flight() const override { return m_inner->in_flight(); }
    Result<void, int> discard(uint64_t offset, uint64_t length) override {
        return count(m_inner->discard(offset, length), m_counters->discard_count);
    }
    Result<void, int> write_zeroes(uint64_t offset, uint64_t length, bool may_unmap) override {
        return count(m_inner->write_zeroes(offset, length, may_unmap),
                     m_counters->write_zeroes_count);
    }
    void replace_image(DiskImage image) override { m_inner->replace_image(std::move(image)); }
    std::vector<HostEventSource> event_sources() const override {
        return m_inner->event_sources();
    }
    char const* name() const override { return m_inner->name(); }

private:
    struct Pending {
        BlockOp op = BlockOp::Read;
        uint64_t bytes = 0;
    };
    Result<void, int> count(Result<void, int> result, std::atomic<uint64_t>& operations) {
        BlockCounters::add(result ? operations : m_counters->io_errors);
        return result;
    }

    std::unique_ptr<BlockEngine> m_inner;
    std::shared_ptr<BlockCounters> m_counters;
    std::vector<Pending> m_pending;  // by tag: the engine's tags are small slot numbers
};

}  // namespace vmm::devices::virtio
