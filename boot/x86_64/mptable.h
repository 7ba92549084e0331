// SPDX-License-Identifier: Apache-2.0
// The Intel MultiProcessor Specification 1.4 tables (floating pointer + configuration table)
// from which a guest without ACPI learns its CPUs, its IOAPIC and the ISA interrupt routing.
#pragma once

#include <cstdint>
#include <vector>

#include "vmm/base/result.h"
#include "vmm/memory/guest_memory.h"

namespace vmm::boot::x86_64 {

// MP spec 1.4 §4.1: the floating pointer structure, 16 bytes, on a 16-byte boundary.
struct MpFloatingPointer {
    char signature[4];  // "_MP_"
    uint32_t config_table;
    uint8_t length;  // in 16-byte paragraphs: 1
    uint8_t spec_rev;
    uint8_t checksum;
    uint8_t features[5];  // feature 1 = 0: a configuration table is present
};
static_assert(sizeof(MpFloatingPointer) == 16);

// MP spec 1.4 §4.2: the configuration table header; the base table follows it.
struct MpConfigHeader {
    char signature[4];  // "PCMP"
    uint16_t base_length;
    uint8_t spec_rev;
    uint8_t checksum;
    char oem_id[8];
    char product_id[12];
    uint32_t oem_table;
    uint16_t oem_table_size;
    uint16_t entry_count;
    uint32_t local_apic;
    uint16_t extended_length;
    uint8_t extended_checksum;
    uint8_t reserved;
};
static_assert(sizeof(MpConfigHeader) == 44);

// MP spec 1.4 §4.3: base table entries (type byte first).
struct MpProcessor {
    uint8_t type;  // 0
    uint8_t apic_id;
    uint8_t apic_version;
    uint8_t flags;  // bit 0 enabled, bit 1 bootstrap processor
    uint32_t signature;
    uint32_t features;
    uint32_t reserved[2];
};
static_assert(sizeof(MpProcessor) == 20);

struct MpBus {
    uint8_t type;  // 1
    uint8_t bus_id;
    char bus_type[6];
};
static_assert(sizeof(MpBus) == 8);

struct MpIoApic {
    uint8_t type;  // 2
    uint8_t id;
    uint8_t version;
    uint8_t flags;  // bit 0 enabled
    uint32_t address;
};
static_assert(sizeof(MpIoApic) == 8);

// Type 3 (I/O interrupt assignment) and type 4 (local interrupt assignment) share this layout.
struct MpInterrupt {
    uint8_t type;
    uint8_t interrupt_type;  // 0 INT, 1 NMI, 2 SMI, 3 ExtINT
    uint16_t flags;          // polarity bits 0-1, trigger bits 2-3; 0 = conforms to the bus
    uint8_t source_bus;
    uint8_t source_irq;
    uint8_t destination;  // IOAPIC id, or local APIC id (0xff: all)
    uint8_t destination_pin;
};
static_assert(sizeof(MpInterrupt) == 8);

inline constexpr uint8_t kMpProcessor = 0, kMpBus = 1, kMpIoApic = 2, kMpIoInterrupt = 3,
                         kMpLocalInterrupt = 4;
inline constexpr uint32_t kLocalApicAddress = 0xfee0'0000;
inline constexpr uint32_t kIoApicAddress = 0xfec0'0000;
/// KVM's in-kernel IOAPIC has 24 pins; ISA IRQ n goes to pin n, as KVM's default GSI routing
/// (and its in-kernel PIT on GSI 0) expects.
inline constexpr uint8_t kIoApicPins = 24;
/// APIC ids are 8 bits, 0xff is the broadcast id, and the IOAPIC takes the id after the CPUs.
inline constexpr uint32_t kMpMaxVcpus = 254;

/// Bytes of the floating pointer plus the configuration table for `vcpus` processors.
constexpr uint64_t mp_table_size(uint32_t vcpus) {
    return sizeof(MpFloatingPointer) + sizeof(MpConfigHeader) + vcpus * sizeof(MpProcessor) +
           sizeof(MpBus) + sizeof(MpIoApic) + (kIoApicPins + 2) * sizeof(MpInterrupt);
}

/// The floating pointer followed by the configuration table, as placed at `address` (16-byte
/// aligned, below 4 GiB). Fails (Usage) for 0 or more than kMpMaxVcpus vCPUs.
Result<std::vector<uint8_t>> build_mp_table(uint32_t vcpus, uint64_t address);

/// Writes the tables at kMpTableAddress; fails if they would not end below kHighMemoryStart.
Result<void> write_mp_table(GuestMemory const& memory, uint32_t vcpus);

}  // namespace vmm::boot::x86_64
