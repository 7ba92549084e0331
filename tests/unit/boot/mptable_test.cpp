// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <array>
#include <cstring>
#include <numeric>
#include <span>
#include <string>
#include <vector>

#include "boot/x86_64/e820.h"
#include "boot/x86_64/layout.h"
#include "boot/x86_64/mptable.h"
#include "vmm/base/size.h"
#include "vmm/machine_config.h"

using namespace vmm;
using namespace vmm::boot::x86_64;

namespace {

std::vector<uint8_t> table_for(uint32_t vcpus, uint64_t address = kMpTableAddress) {
    auto r = build_mp_table(vcpus, address);
    INFO((r ? std::string() : r.error().message()));
    REQUIRE(r.has_value());
    return *r;
}

uint8_t byte_sum(std::span<uint8_t const> bytes) {
    return static_cast<uint8_t>(std::accumulate(bytes.begin(), bytes.end(), 0u));
}

template <typename T>
T at(std::vector<uint8_t> const& bytes, size_t offset) {
    REQUIRE(offset + sizeof(T) <= bytes.size());
    T value;
    std::memcpy(&value, bytes.data() + offset, sizeof value);
    return value;
}

// The configuration table's entries, decoded by walking the type bytes as Linux does.
struct Parsed {
    MpFloatingPointer pointer;
    MpConfigHeader header;
    std::vector<MpProcessor> cpus;
    std::vector<MpBus> buses;
    std::vector<MpIoApic> ioapics;
    std::vector<MpInterrupt> io_interrupts;
    std::vector<MpInterrupt> local_interrupts;
};

Parsed parse(std::vector<uint8_t> const& bytes, uint64_t address) {
    Parsed p{};
    p.pointer = at<MpFloatingPointer>(bytes, 0);
    size_t const header_at = p.pointer.config_table - address;
    p.header = at<MpConfigHeader>(bytes, header_at);
    size_t offset = header_at + sizeof(MpConfigHeader);
    size_t const end = header_at + p.header.base_length;
    REQUIRE(end <= bytes.size());
    while (offset < end) {
        switch (bytes[offset]) {
            case kMpProcessor:
                p.cpus.push_back(at<MpProcessor>(bytes, offset));
                offset += sizeof(MpProcessor);
                break;
            case kMpBus:
                p.buses.push_back(at<MpBus>(bytes, offset));
                offset += sizeof(MpBus);
                break;
            case kMpIoApic:
                p.ioapics.push_back(at<MpIoApic>(bytes, offset));
                offset += sizeof(MpIoApic);
                break;
            case kMpIoInterrupt:
                p.io_interrupts.push_back(at<MpInterrupt>(bytes, offset));
                offset += sizeof(MpInterrupt);
                break;
            case kMpLocalInterrupt:
                p.local_interrupts.push_back(at<MpInterrupt>(bytes, offset));
                offset += sizeof(MpInterrupt);
                break;
            default: FAIL("unknown entry type " << int{bytes[offset]} << " at " << offset);
        }
    }
    CHECK(offset == end);
    return p;
}

}  // namespace

TEST_CASE("MP table checksums sum to zero and the pointer finds the table", "[boot][mptable]") {
    for (uint32_t vcpus : {1u, 2u, 64u}) {
        INFO("vcpus " << vcpus);
        auto const bytes = table_for(vcpus);
        CHECK(bytes.size() == mp_table_size(vcpus));
        auto const pointer = at<MpFloatingPointer>(bytes, 0);
        CHECK(std::memcmp(pointer.signature, "_MP_", 4) == 0);
        CHECK(pointer.length == 1);
        CHECK(pointer.spec_rev == 4);
        CHECK(pointer.features[0] == 0);  // a configuration table follows, no default config
        CHECK(pointer.features[1] == 0);  // no IMCR: virtual wire mode
        CHECK(byte_sum(std::span(bytes).first(16)) == 0);
        CHECK(pointer.config_table == kMpTableAddress + 16);
        CHECK(pointer.config_table % 16 == 0);

        auto const header = at<MpConfigHeader>(bytes, 16);
        CHECK(std::memcmp(header.signature, "PCMP", 4) == 0);
        CHECK(header.spec_rev == 4);
        CHECK(header.base_length == bytes.size() - 16);
        CHECK(byte_sum(std::span(bytes).subspan(16, header.base_length)) == 0);
        CHECK(std::string(header.oem_id, 8) == "WISP    ");
        CHECK(std::string(header.product_id, 12) == "WISP        ");
        CHECK(header.local_apic == 0xfee00000);
        CHECK(header.oem_table == 0);
        CHECK(header.oem_table_size == 0);
        CHECK(header.extended_length == 0);
        CHECK(header.extended_checksum == 0);
    }
}

TEST_CASE("MP table entries for 1, 2 and 64 vCPUs", "[boot][mptable]") {
    for (uint32_t vcpus : {1u, 2u, 64u}) {
        INFO("vcpus " << vcpus);
        auto const p = parse(table_for(vcpus), kMpTableAddress);
        CHECK(p.header.entry_count == vcpus + 1 + 1 + kIoApicPins + 2);

        REQUIRE(p.cpus.size() == vcpus);
        for (uint32_t i = 0; i < vcpus; ++i) {
            CHECK(p.cpus[i].apic_id == i);
            CHECK(p.cpus[i].apic_version == 0x14);
            CHECK((p.cpus[i].flags & 1) == 1);                // enabled
            CHECK(((p.cpus[i].flags & 2) != 0) == (i == 0));  // BSP only on 0
            CHECK(((p.cpus[i].signature >> 8) & 0xf) == 6);   // family 6
        }

        REQUIRE(p.buses.size() == 1);
        CHECK(p.buses[0].bus_id == 0);
        CHECK(std::string(p.buses[0].bus_type, 6) == "ISA   ");

        REQUIRE(p.ioapics.size() == 1);
        CHECK(p.ioapics[0].id == vcpus);
        CHECK(p.ioapics[0].version == 0x11);
        CHECK(p.ioapics[0].flags == 1);
        CHECK(p.ioapics[0].address == 0xfec00000);

        REQUIRE(p.io_interrupts.size() == kIoApicPins);
        for (uint8_t pin = 0; pin < kIoApicPins; ++pin) {
            auto const& e = p.io_interrupts[pin];
            CHECK(e.interrupt_type == 0);  // INT
            CHECK(e.flags == 0);           // conforms to the ISA bus: edge, active high
            CHECK(e.source_bus == 0);
            CHECK(e.source_irq == pin);  // IRQ n -> pin n, also IRQ 0 (KVM's PIT on GSI 0)
            CHECK(e.destination == vcpus);
            CHECK(e.destination_pin == pin);
        }

        REQUIRE(p.local_interrupts.size() == 2);
        CHECK(p.local_interrupts[0].interrupt_type == 3);  // ExtINT
        CHECK(p.local_interrupts[0].destination == 0xff);
        CHECK(p.local_interrupts[0].destination_pin == 0);
        CHECK(p.local_interrupts[1].interrupt_type == 1);  // NMI
        CHECK(p.local_interrupts[1].destination == 0xff);
        CHECK(p.local_interrupts[1].destination_pin == 1);
    }
}

TEST_CASE("MP table for the largest machine fits in the BIOS area", "[boot][mptable]") {
    STATIC_REQUIRE(MachineConfig::kMaxVcpus <= kMpMaxVcpus);
    STATIC_REQUIRE(kMpTableAddress + mp_table_size(MachineConfig::kMaxVcpus) <= kHighMemoryStart);
    STATIC_REQUIRE(kMpTableAddress % 16 == 0);
    STATIC_REQUIRE(kMpTableAddress + mp_table_size(kMpMaxVcpus) <= kHighMemoryStart);
    CHECK(table_for(MachineConfig::kMaxVcpus).size() == mp_table_size(MachineConfig::kMaxVcpus));
    CHECK(table_for(kMpMaxVcpus).size() == mp_table_size(kMpMaxVcpus));
}

TEST_CASE("MP table refuses 0 vCPUs, too many for 8-bit APIC ids, and bad addresses",
          "[boot][mptable]") {
    for (uint32_t vcpus : {0u, kMpMaxVcpus + 1, 255u, 256u, UINT32_MAX}) {
        INFO("vcpus " << vcpus);
        auto r = build_mp_table(vcpus, kMpTableAddress);
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().kind() == ErrorKind::Usage);
    }
    CHECK_FALSE(build_mp_table(1, kMpTableAddress + 8).has_value());
    CHECK_FALSE(build_mp_table(1, 0xffff'fff0).has_value());
    CHECK_FALSE(build_mp_table(1, UINT64_MAX - 15).has_value());
}

TEST_CASE("MP table placed elsewhere points at its own table", "[boot][mptable]") {
    auto const bytes = table_for(4, 0x9fc00);
    CHECK(at<MpFloatingPointer>(bytes, 0).config_table == 0x9fc10);
    CHECK(parse(bytes, 0x9fc00).cpus.size() == 4);
}

TEST_CASE("write_mp_table writes at 0xf0000, which the E820 map keeps out of RAM",
          "[boot][mptable]") {
    auto memory = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 4_MiB}});
    REQUIRE(memory.has_value());
    REQUIRE(write_mp_table(*memory, 2).has_value());
    auto const expected = table_for(2);
    std::vector<uint8_t> written(expected.size());
    REQUIRE(memory->read(GuestAddress{kMpTableAddress}, written).has_value());
    CHECK(written == expected);

    uint64_t const end = kMpTableAddress + mp_table_size(MachineConfig::kMaxVcpus);
    bool reserved = false;
    for (auto const& entry : build_e820(memory->regions())) {
        bool const overlaps = entry.address < end && kMpTableAddress < entry.address + entry.size;
        if (!overlaps) continue;
        CHECK(entry.type == E820Type::Reserved);
        reserved =
            reserved || (entry.address <= kMpTableAddress && end <= entry.address + entry.size);
    }
    CHECK(reserved);
}

TEST_CASE("write_mp_table fails cleanly when guest memory does not reach 0xf0000",
          "[boot][mptable]") {
    auto memory =
        GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 0x80000}});
    REQUIRE(memory.has_value());
    auto r = write_mp_table(*memory, 1);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().kind() == ErrorKind::Image);
    CHECK_FALSE(write_mp_table(*memory, 0).has_value());
}
