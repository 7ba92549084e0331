// SPDX-License-Identifier: Apache-2.0
// CountingBackend: a BlockBackend in front of another that counts the I/O for the metrics
// (read/write operations and bytes, flushes, discards, write-zeroes, failures), whatever the
// engine behind it. The counters outlive a backend swap (a drive update keeps counting).
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>

#include "devices/virtio/block/block_backend.h"

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

}  // namespace vmm::devices::virtio
