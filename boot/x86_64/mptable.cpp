// SPDX-License-Identifier: Apache-2.0
// MP table construction.
#include "boot/x86_64/mptable.h"

#include <cstddef>
#include <cstring>
#include <numeric>
#include <span>

#include "boot/x86_64/layout.h"
#include "vmm/base/check.h"

namespace vmm::boot::x86_64 {

namespace {

constexpr uint8_t kSpecRev = 4;         // MP spec 1.4
constexpr uint8_t kApicVersion = 0x14;  // KVM's local APIC (integrated, xAPIC)
constexpr uint8_t kIoApicVersion = 0x11;
constexpr uint8_t kCpuEnabled = 1, kCpuBootstrap = 2;
constexpr uint8_t kIoApicEnabled = 1;
constexpr uint8_t kInt = 0, kNmi = 1, kExtInt = 3;
constexpr uint8_t kIsaBusId = 0;
constexpr uint8_t kAllLocalApics = 0xff;
// MP spec 1.4 §4.3.1: stepping bits 0-3, model 4-7, family 8-11; feature flags as CPUID.1:EDX.
// Linux only prints them; family 6 with an on-chip FPU (bit 0) and local APIC (bit 9).
constexpr uint32_t kCpuSignature = 6u << 8;
constexpr uint32_t kCpuFeatures = (1u << 0) | (1u << 9);

template <GuestPod T>
void append(std::vector<uint8_t>& out, T const& value) {
    auto const* bytes = reinterpret_cast<uint8_t const*>(&value);
    out.insert(out.end(), bytes, bytes + sizeof value);
}

// MP spec 1.4 §4.1/§4.2: every byte of a structure, checksum included, sums to zero.
uint8_t checksum(std::span<uint8_t const> bytes) {
    return static_cast<uint8_t>(-std::accumulate(bytes.begin(), bytes.end(), 0u));
}

MpInterrupt interrupt(uint8_t type, uint8_t kind, uint8_t irq, uint8_t destination, uint8_t pin) {
    return MpInterrupt{.type = type,
                       .interrupt_type = kind,
                       .flags = 0,
                       .source_bus = kIsaBusId,
                       .source_irq = irq,
                       .destination = destination,
                       .destination_pin = pin};
}

}  // namespace

Result<std::vector<uint8_t>> build_mp_table(uint32_t vcpus, uint64_t address) {
    if (vcpus == 0 || vcpus > kMpMaxVcpus)
        return fail(ErrorKind::Usage,
                    fmt::format("an MP table describes 1 to {} vCPUs, not {}", kMpMaxVcpus, vcpus));
    uint64_t const size = mp_table_size(vcpus);
    if (address % 16 != 0 || address > UINT32_MAX || size > UINT32_MAX - address + 1)
        return fail(ErrorKind::Host, "the MP table must be 16-byte aligned and below 4 GiB");

    std::vector<uint8_t> table;
    table.reserve(size);
    MpFloatingPointer pointer{};
    std::memcpy(pointer.signature, "_MP_", 4);
    pointer.config_table = static_cast<uint32_t>(address + sizeof pointer);
    pointer.length = 1;
    pointer.spec_rev = kSpecRev;
    // features[1] bit 7 (IMCR present) stays clear: virtual wire mode, LINT0 takes the PIC.
    append(table, pointer);
    table[offsetof(MpFloatingPointer, checksum)] = checksum(table);

    size_t const header_at = table.size();
    MpConfigHeader header{};
    std::memcpy(header.signature, "PCMP", 4);
    header.base_length = static_cast<uint16_t>(size - sizeof pointer);
    header.spec_rev = kSpecRev;
    std::memcpy(header.oem_id, "WISP    ", 8);
    std::memcpy(header.product_id, "WISP        ", 12);
    header.entry_count = static_cast<uint16_t>(vcpus + 2 + kIoApicPins + 2);
    header.local_apic = kLocalApicAddress;
    append(table, header);

    for (uint32_t cpu = 0; cpu < vcpus; ++cpu) {
        MpProcessor entry{};
        entry.type = kMpProcessor;
        entry.apic_id = static_cast<uint8_t>(cpu);  // matches normalize_cpuid's APIC ids
        entry.apic_version = kApicVersion;
        entry.flags = static_cast<uint8_t>(kCpuEnabled | (cpu == 0 ? kCpuBootstrap : 0));
        entry.signature = kCpuSignature;
        entry.features = kCpuFeatures;
        append(table, entry);
    }
    MpBus bus{.type = kMpBus, .bus_id = kIsaBusId, .bus_type = {}};
    std::memcpy(bus.bus_type, "ISA   ", 6);
    append(table, bus);
    auto const ioapic_id = static_cast<uint8_t>(vcpus);
    append(table, MpIoApic{.type = kMpIoApic,
                           .id = ioapic_id,
                           .version = kIoApicVersion,
                           .flags = kIoApicEnabled,
                           .address = kIoApicAddress});
    // Every pin, not only the 16 ISA ones: Linux allocates an IRQ only for pins listed here,
    // and virtio-mmio devices may sit on GSIs 16-23.
    for (uint8_t pin = 0; pin < kIoApicPins; ++pin)
        append(table, interrupt(kMpIoInterrupt, kInt, pin, ioapic_id, pin));
    append(table, interrupt(kMpLocalInterrupt, kExtInt, 0, kAllLocalApics, 0));
    append(table, interrupt(kMpLocalInterrupt, kNmi, 0, kAllLocalApics, 1));

    VMM_CHECK(table.size() == size, "MP table size differs from mp_table_size()");
    table[header_at + offsetof(MpConfigHeader, checksum)] =
        checksum(std::span(table).subspan(header_at));
    return table;
}

Result<void> write_mp_table(GuestMemory const& memory, uint32_t vcpus) {
    auto const table = TRY(build_mp_table(vcpus, kMpTableAddress));
    if (table.size() > kHighMemoryStart - kMpTableAddress)
        return fail(ErrorKind::Usage,
                    fmt::format("the MP table for {} vCPUs does not fit below 1 MiB", vcpus));
    if (!memory.write(GuestAddress{kMpTableAddress}, table))
        return fail(ErrorKind::Image, "guest memory too small for the MP table");
    return {};
}

}  // namespace vmm::boot::x86_64
