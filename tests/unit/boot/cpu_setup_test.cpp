// SPDX-License-Identifier: Apache-2.0
#include <catch2/catch.hpp>

#include <algorithm>
#include <array>
#include <cstring>
#include <optional>
#include <vector>

#include "boot/x86_64/cpu_setup.h"
#include "boot/x86_64/layout.h"
#include "vmm/base/size.h"

using namespace vmm;
using namespace vmm::boot::x86_64;

namespace {

// Intel SDM vol. 3A §3.4.5, decoded independently of cpu_setup.cpp.
struct Decoded {
    uint32_t base;
    uint32_t limit;  // raw 20-bit field
    uint32_t type;
    bool s, p, avl, l, db, g;
    uint32_t dpl;
};

Decoded decode(uint64_t d) {
    Decoded x{};
    x.limit = static_cast<uint32_t>((d & 0xffff) | (((d >> 48) & 0xf) << 16));
    x.base = static_cast<uint32_t>(((d >> 16) & 0xffffff) | (((d >> 56) & 0xff) << 24));
    x.type = static_cast<uint32_t>((d >> 40) & 0xf);
    x.s = (d >> 44) & 1;
    x.dpl = static_cast<uint32_t>((d >> 45) & 3);
    x.p = (d >> 47) & 1;
    x.avl = (d >> 52) & 1;
    x.l = (d >> 53) & 1;
    x.db = (d >> 54) & 1;
    x.g = (d >> 55) & 1;
    return x;
}

kvm_cpuid_entry2 leaf(uint32_t function, uint32_t index, uint32_t eax, uint32_t ebx, uint32_t ecx,
                      uint32_t edx) {
    kvm_cpuid_entry2 e{};
    e.function = function;
    e.index = index;
    e.eax = eax;
    e.ebx = ebx;
    e.ecx = ecx;
    e.edx = edx;
    return e;
}

kvm_cpuid_entry2 const& find(std::vector<kvm_cpuid_entry2> const& entries, uint32_t function,
                             uint32_t index = 0) {
    auto it = std::find_if(entries.begin(), entries.end(), [&](auto const& e) {
        return e.function == function && e.index == index;
    });
    REQUIRE(it != entries.end());
    return *it;
}

std::vector<kvm_cpuid_entry2> host_cpuid() {
    return {
        leaf(0x0, 0, 0x1f, 0x756e6547, 0x6c65746e, 0x49656e69),
        leaf(0x1, 0, 0x000906ea, 0xaabb0800, 0x7ffafbbf, 0xbfebfbff & ~(1u << 28)),
        leaf(0x4, 0, 0xfc004121, 0x01c0003f, 0x3f, 0),  // L1d: level 1, type 1
        leaf(0x4, 3, 0xfc07c163, 0x02c0003f, 0x1fff, 6),  // L3: level 3, type 3
        leaf(0xb, 0, 0x1, 0x2, 0x100, 0x55),
        leaf(0xb, 1, 0x4, 0xc, 0x201, 0x55),
        leaf(0xb, 2, 0x0, 0x0, 0x2, 0x55),
        leaf(0x1f, 0, 0x1, 0x2, 0x100, 0x55),
        leaf(0x1f, 1, 0x4, 0xc, 0x201, 0x55),
        leaf(0x80000001, 0, 0x12345678, 0x9abcdef0, 0x121, 0x2c100800),
    };
}

uint32_t lapic_reg(kvm_lapic_state const& lapic, size_t offset) {
    uint32_t value;
    std::memcpy(&value, lapic.regs + offset, sizeof value);
    return value;
}

void set_lapic_reg(kvm_lapic_state& lapic, size_t offset, uint32_t value) {
    std::memcpy(lapic.regs + offset, &value, sizeof value);
}

}  // namespace

TEST_CASE("boot_gdt holds a null entry, flat 4 GiB code and data, and a TSS", "[boot][cpu]") {
    auto const gdt = boot_gdt();
    CHECK(gdt[0] == 0);
    CHECK(gdt[kCodeSelector / 8] == 0x00cf9b000000ffff);
    CHECK(gdt[kDataSelector / 8] == 0x00cf93000000ffff);

    Decoded const code = decode(gdt[kCodeSelector / 8]);
    CHECK(code.base == 0);
    CHECK(code.limit == 0xfffff);
    CHECK(code.g);
    CHECK(code.db);
    CHECK_FALSE(code.l);
    CHECK(code.p);
    CHECK(code.s);
    CHECK(code.dpl == 0);
    CHECK(code.type == 0xb);  // execute/read, accessed

    Decoded const data = decode(gdt[kDataSelector / 8]);
    CHECK(data.base == 0);
    CHECK(data.limit == 0xfffff);
    CHECK(data.g);
    CHECK(data.db);
    CHECK(data.p);
    CHECK(data.s);
    CHECK(data.dpl == 0);
    CHECK(data.type == 0x3);  // read/write, accessed

    Decoded const tss = decode(gdt[kTssSelector / 8]);
    CHECK(tss.p);
    CHECK_FALSE(tss.s);
    CHECK(tss.type == 0xb);  // 32-bit TSS, busy
    CHECK(tss.limit == 0x67);
    CHECK_FALSE(tss.g);
}

TEST_CASE("write_boot_gdt puts the GDT at its fixed address", "[boot][cpu]") {
    auto memory = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 64_KiB}});
    REQUIRE(memory.has_value());
    REQUIRE(write_boot_gdt(*memory).has_value());
    auto const gdt = boot_gdt();
    for (size_t i = 0; i < gdt.size(); ++i) {
        auto entry = memory->read_obj<uint64_t>(GuestAddress{kGdtAddress + 8 * i});
        REQUIRE(entry.has_value());
        CHECK(*entry == gdt[i]);
    }
}

TEST_CASE("set_pvh_sregs enters 32-bit protected mode with paging off", "[boot][cpu]") {
    kvm_sregs sregs{};
    sregs.cr0 = 0x80000011;  // paging on before: must be turned off
    sregs.cr4 = 0x20;
    sregs.efer = 0xd01;
    sregs.cr3 = 0x1000;
    sregs.apic_base = 0xfee00900;
    sregs.interrupt_bitmap[0] = 0x42;
    set_pvh_sregs(sregs);

    CHECK(sregs.cs.selector == 0x10);
    CHECK(sregs.cs.base == 0);
    CHECK(sregs.cs.limit == 0xffffffff);
    CHECK(sregs.cs.db == 1);
    CHECK(sregs.cs.g == 1);
    CHECK(sregs.cs.l == 0);
    CHECK(sregs.cs.present == 1);
    CHECK(sregs.cs.s == 1);
    CHECK(sregs.cs.dpl == 0);
    CHECK(sregs.cs.type == 0xb);

    for (kvm_segment const* seg : {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss}) {
        CHECK(seg->selector == 0x18);
        CHECK(seg->base == 0);
        CHECK(seg->limit == 0xffffffff);
        CHECK(seg->db == 1);
        CHECK(seg->g == 1);
        CHECK(seg->present == 1);
        CHECK(seg->s == 1);
        CHECK(seg->type == 0x3);
    }
    CHECK(sregs.tr.selector == 0x20);
    CHECK(sregs.tr.type == 0xb);
    CHECK(sregs.tr.limit == 0x67);
    CHECK(sregs.tr.present == 1);
    CHECK(sregs.tr.s == 0);

    CHECK(sregs.gdt.base == kGdtAddress);
    CHECK(sregs.gdt.limit == 5 * 8 - 1);
    CHECK((sregs.cr0 & 1) == 1);             // PE
    CHECK((sregs.cr0 & 0x80000000) == 0);    // PG
    CHECK(sregs.cr4 == 0);
    CHECK(sregs.efer == 0);
    CHECK(sregs.cr3 == 0);
    // The rest is left as KVM gave it.
    CHECK(sregs.apic_base == 0xfee00900);
    CHECK(sregs.interrupt_bitmap[0] == 0x42);
}

TEST_CASE("pvh_regs sets rip, rbx and only bit 1 of rflags", "[boot][cpu]") {
    kvm_regs const regs = pvh_regs(0x1000040, 0x6000);
    CHECK(regs.rip == 0x1000040);
    CHECK(regs.rbx == 0x6000);
    CHECK(regs.rflags == 2);
    CHECK(regs.rax == 0);
    CHECK(regs.rsp == 0);
    CHECK(regs.rsi == 0);
}

TEST_CASE("The 64-bit entry's GDT has 64-bit code at 0x10 and the same data and TSS",
          "[boot][cpu][linux]") {
    auto const gdt = boot_gdt(EntryMode::Linux64);
    auto const gdt32 = boot_gdt();
    CHECK(gdt[0] == 0);
    CHECK(gdt[kDataSelector / 8] == gdt32[kDataSelector / 8]);
    CHECK(gdt[kTssSelector / 8] == gdt32[kTssSelector / 8]);
    CHECK(gdt[kCodeSelector / 8] == 0x00af9b000000ffff);
    Decoded const code = decode(gdt[kCodeSelector / 8]);
    CHECK(code.l);
    CHECK_FALSE(code.db);  // L = 1 requires D = 0
    CHECK(code.p);
    CHECK(code.s);
    CHECK(code.dpl == 0);
    CHECK(code.type == 0xb);
    // PVH and the 32-bit Linux entry share the 32-bit GDT.
    CHECK(boot_gdt(EntryMode::Pvh) == gdt32);
    CHECK(boot_gdt(EntryMode::Linux32) == gdt32);

    auto memory = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 64_KiB}});
    REQUIRE(memory.has_value());
    REQUIRE(write_boot_gdt(*memory, EntryMode::Linux64).has_value());
    auto entry = memory->read_obj<uint64_t>(GuestAddress{kGdtAddress + kCodeSelector});
    REQUIRE(entry.has_value());
    CHECK(*entry == gdt[kCodeSelector / 8]);
}

namespace {
// Walks 4-level paging (Intel SDM vol. 3A §4.5) over tables laid out from kPml4Address.
std::optional<uint64_t> translate(std::vector<uint64_t> const& tables, uint64_t address) {
    auto entry = [&](uint64_t table, uint64_t index) -> std::optional<uint64_t> {
        uint64_t const slot = (table - kPml4Address) / 8 + index;
        if (table < kPml4Address || slot >= tables.size()) return std::nullopt;
        return tables[slot];
    };
    uint64_t const mask = 0x000f'ffff'ffff'f000;
    auto pml4e = entry(kPml4Address, (address >> 39) & 511);
    if (!pml4e || !(*pml4e & 1)) return std::nullopt;
    auto pdpte = entry(*pml4e & mask, (address >> 30) & 511);
    if (!pdpte || !(*pdpte & 1) || (*pdpte & 0x80)) return std::nullopt;
    auto pde = entry(*pdpte & mask, (address >> 21) & 511);
    if (!pde || !(*pde & 1) || !(*pde & 0x80)) return std::nullopt;
    return (*pde & 0x000f'ffff'ffe0'0000) | (address & 0x1f'ffff);
}
}  // namespace

TEST_CASE("identity_page_tables map 0-4 GiB one to one with 2 MiB pages", "[boot][cpu][linux]") {
    auto const tables = identity_page_tables();
    REQUIRE(tables.size() == 6 * 512);
    CHECK(tables[0] == (kPdptAddress | 3));
    for (size_t i = 1; i < 512; ++i) REQUIRE(tables[i] == 0);
    for (uint64_t i = 0; i < 4; ++i)
        CHECK(tables[512 + i] == ((kPageDirectoryAddress + i * 4096) | 3));
    for (size_t i = 4; i < 512; ++i) REQUIRE(tables[512 + i] == 0);
    CHECK(tables[1024] == 0x83);                             // 0: present, writable, 2 MiB
    CHECK(tables[1025] == (2_MiB | 0x83));
    CHECK(tables.back() == ((4_GiB - 2_MiB) | 0x83));
    for (uint64_t address : {uint64_t{0}, uint64_t{0x8000}, 1_MiB + 0x123, 16_MiB + 0x200,
                             1_GiB - 1, 1_GiB, 3_GiB + 0x1234, 4_GiB - 1}) {
        INFO("address " << address);
        auto physical = translate(tables, address);
        REQUIRE(physical.has_value());
        CHECK(*physical == address);
    }
    CHECK_FALSE(translate(tables, 4_GiB).has_value());
    CHECK_FALSE(translate(tables, 512_GiB).has_value());
    // The tables fit where layout.h puts them, below the command line.
    STATIC_REQUIRE(kPml4Address + 4096 <= kPdptAddress);
    STATIC_REQUIRE(kPdptAddress + 4096 <= kPageDirectoryAddress);
    STATIC_REQUIRE(kPageDirectoryAddress + 4 * 4096 <= 0xf000);
}

TEST_CASE("write_identity_page_tables writes them at kPml4Address", "[boot][cpu][linux]") {
    auto memory = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 1_MiB}});
    REQUIRE(memory.has_value());
    REQUIRE(write_identity_page_tables(*memory).has_value());
    auto const tables = identity_page_tables();
    for (size_t i = 0; i < tables.size(); ++i) {
        auto entry = memory->read_obj<uint64_t>(GuestAddress{kPml4Address + 8 * i});
        REQUIRE(entry.has_value());
        REQUIRE(*entry == tables[i]);
    }
    auto tiny = GuestMemory::create(std::array{GuestMemory::RegionSpec{GuestAddress{0}, 40_KiB}});
    REQUIRE(tiny.has_value());
    CHECK_FALSE(write_identity_page_tables(*tiny).has_value());
}

TEST_CASE("set_long_mode_sregs enters long mode with paging on the identity tables",
          "[boot][cpu][linux]") {
    kvm_sregs sregs{};
    sregs.cr0 = 0x60000010;  // reset value: caching off, paging off
    sregs.apic_base = 0xfee00900;
    sregs.interrupt_bitmap[0] = 0x42;
    set_long_mode_sregs(sregs);

    CHECK(sregs.cr0 == 0x80000011);  // PG | ET | PE
    CHECK(sregs.cr3 == kPml4Address);
    CHECK(sregs.cr4 == 0x20);        // PAE
    CHECK(sregs.efer == 0x500);      // LMA | LME
    CHECK(sregs.cs.selector == 0x10);
    CHECK(sregs.cs.l == 1);
    CHECK(sregs.cs.db == 0);
    CHECK(sregs.cs.present == 1);
    CHECK(sregs.cs.s == 1);
    CHECK(sregs.cs.dpl == 0);
    CHECK(sregs.cs.type == 0xb);
    CHECK(sregs.cs.base == 0);
    for (kvm_segment const* seg : {&sregs.ds, &sregs.es, &sregs.fs, &sregs.gs, &sregs.ss}) {
        CHECK(seg->selector == 0x18);
        CHECK(seg->base == 0);
        CHECK(seg->limit == 0xffffffff);
        CHECK(seg->present == 1);
        CHECK(seg->s == 1);
        CHECK(seg->type == 0x3);
    }
    CHECK(sregs.tr.selector == 0x20);
    CHECK(sregs.tr.type == 0xb);  // busy; a 64-bit TSS in long mode
    CHECK(sregs.tr.present == 1);
    CHECK(sregs.gdt.base == kGdtAddress);
    CHECK(sregs.gdt.limit == 5 * 8 - 1);
    CHECK(sregs.idt.limit == 0);
    CHECK(sregs.apic_base == 0xfee00900);
    CHECK(sregs.interrupt_bitmap[0] == 0x42);
}

TEST_CASE("Linux entries get boot_params in rsi, PVH its start info in rbx", "[boot][cpu][linux]") {
    kvm_regs const regs = linux_regs(0x1000200, kBootParamsAddress);
    CHECK(regs.rip == 0x1000200);
    CHECK(regs.rsi == kBootParamsAddress);
    CHECK(regs.rflags == 2);  // interrupts off
    CHECK(regs.rbx == 0);
    CHECK(regs.rbp == 0);
    CHECK(regs.rdi == 0);
    CHECK(regs.rsp == 0);

    CHECK(entry_regs(EntryMode::Linux64, 0x1000200, 0x8000).rsi == 0x8000);
    CHECK(entry_regs(EntryMode::Linux32, 0x100000, 0x8000).rip == 0x100000);
    CHECK(entry_regs(EntryMode::Linux32, 0x100000, 0x8000).rsi == 0x8000);
    CHECK(entry_regs(EntryMode::Pvh, 0x100040, 0x6000).rbx == 0x6000);
    CHECK(entry_regs(EntryMode::Pvh, 0x100040, 0x6000).rsi == 0);

    kvm_sregs pvh{}, linux32{}, linux64{};
    set_pvh_sregs(pvh);
    set_entry_sregs(EntryMode::Linux32, linux32);
    set_entry_sregs(EntryMode::Linux64, linux64);
    CHECK(std::memcmp(&pvh, &linux32, sizeof pvh) == 0);  // flat 32-bit, paging off
    CHECK(linux64.efer == 0x500);
    CHECK(linux64.cs.l == 1);
}

TEST_CASE("normalize_cpuid sets the APIC id, the count and the hypervisor bit in leaf 1",
          "[boot][cpu][cpuid]") {
    auto const out = normalize_cpuid(host_cpuid(), 3, 4);
    REQUIRE(out.size() == host_cpuid().size());
    auto const& l1 = find(out, 0x1);
    CHECK((l1.ebx >> 24) == 3);
    CHECK(((l1.ebx >> 16) & 0xff) == 4);
    CHECK((l1.ebx & 0xffff) == 0x0800);  // brand index and CLFLUSH size kept
    CHECK((l1.ecx & (1u << 31)) != 0);
    CHECK((l1.ecx & 0x7ffafbbf) == 0x7ffafbbf);  // host features kept
    CHECK((l1.edx & (1u << 28)) != 0);           // HTT with more than one vCPU
    CHECK(l1.eax == 0x000906ea);

    auto const single = normalize_cpuid(host_cpuid(), 0, 1);
    auto const& s1 = find(single, 0x1);
    CHECK((s1.ebx >> 24) == 0);
    CHECK(((s1.ebx >> 16) & 0xff) == 1);
    CHECK((s1.ecx & (1u << 31)) != 0);
}

TEST_CASE("enable_tsc_deadline_timer sets leaf 1 ECX bit 24 and nothing else",
          "[boot][cpu][cpuid]") {
    auto entries = host_cpuid();
    for (auto& entry : entries) entry.ecx &= ~(1u << 24);
    auto const before = entries;
    enable_tsc_deadline_timer(entries);
    REQUIRE(entries.size() == before.size());
    for (size_t i = 0; i < entries.size(); ++i) {
        uint32_t const expected_ecx =
            before[i].function == 0x1 ? before[i].ecx | (1u << 24) : before[i].ecx;
        CHECK(entries[i].ecx == expected_ecx);
        CHECK(entries[i].eax == before[i].eax);
        CHECK(entries[i].ebx == before[i].ebx);
        CHECK(entries[i].edx == before[i].edx);
    }
}

TEST_CASE("normalize_cpuid describes the topology in leaves 0xb and 0x1f", "[boot][cpu][cpuid]") {
    auto const out = normalize_cpuid(host_cpuid(), 3, 4);
    for (uint32_t function : {0xbu, 0x1fu}) {
        INFO("leaf " << function);
        auto const& smt = find(out, function, 0);
        CHECK(smt.eax == 0);
        CHECK(smt.ebx == 1);
        CHECK(smt.ecx == 0x100);  // level 0, type SMT
        CHECK(smt.edx == 3);
        auto const& core = find(out, function, 1);
        CHECK(core.eax == 2);  // shift: 4 vCPUs need 2 bits
        CHECK(core.ebx == 4);
        CHECK(core.ecx == 0x201);  // level 1, type core
        CHECK(core.edx == 3);
    }
    auto const& invalid = find(out, 0xb, 2);
    CHECK(invalid.eax == 0);
    CHECK(invalid.ebx == 0);
    CHECK((invalid.ecx & 0xff00) == 0);  // type invalid ends the enumeration
    CHECK((invalid.ecx & 0xff) == 2);
    CHECK(invalid.edx == 3);

    auto const five = normalize_cpuid(host_cpuid(), 4, 5);
    CHECK(find(five, 0xb, 1).eax == 3);
    CHECK(find(five, 0xb, 0).edx == 4);
    auto const one = normalize_cpuid(host_cpuid(), 0, 1);
    CHECK(find(one, 0xb, 1).eax == 0);
    CHECK(find(one, 0xb, 1).ebx == 1);
}

TEST_CASE("normalize_cpuid sets cores per package in leaf 4 and leaves other leaves alone",
          "[boot][cpu][cpuid]") {
    auto const host = host_cpuid();
    auto const out = normalize_cpuid(host, 1, 4);
    auto const& l1d = find(out, 0x4, 0);
    CHECK((l1d.eax >> 26) == 3);
    CHECK(((l1d.eax >> 14) & 0xfff) == 0);  // L1 is not shared
    CHECK((l1d.eax & 0x3ff) == (0xfc004121 & 0x3ff));
    auto const& l3 = find(out, 0x4, 3);
    CHECK((l3.eax >> 26) == 3);
    CHECK(((l3.eax >> 14) & 0xfff) == 3);  // L3 shared by all four
    CHECK((l3.eax & 0x3ff) == (0xfc07c163 & 0x3ff));
    CHECK(l3.ebx == 0x02c0003f);

    for (uint32_t function : {0x0u, 0x80000001u}) {
        auto const& before = find(host, function);
        auto const& after = find(out, function);
        CHECK(after.eax == before.eax);
        CHECK(after.ebx == before.ebx);
        CHECK(after.ecx == before.ecx);
        CHECK(after.edx == before.edx);
    }
}

TEST_CASE("boot_msrs turns fast strings on in MISC_ENABLE and zeroes the rest", "[boot][cpu]") {
    auto const msrs = boot_msrs();
    auto misc = std::find_if(msrs.begin(), msrs.end(), [](auto const& m) { return m.index == 0x1a0; });
    REQUIRE(misc != msrs.end());
    CHECK((misc->data & 1) == 1);
    for (auto const& m : msrs) {
        if (m.index != 0x1a0) CHECK(m.data == 0);
        CHECK(std::count_if(msrs.begin(), msrs.end(),
                            [&](auto const& other) { return other.index == m.index; }) == 1);
    }
    for (uint32_t index : {0x174u, 0x175u, 0x176u, 0xc0000081u, 0xc0000082u, 0xc0000084u}) {
        INFO("msr " << index);
        CHECK(std::any_of(msrs.begin(), msrs.end(), [&](auto const& m) { return m.index == index; }));
    }
}

TEST_CASE("boot_fpu holds the reset x87 control word and MXCSR", "[boot][cpu]") {
    kvm_fpu const fpu = boot_fpu();
    CHECK(fpu.fcw == 0x37f);
    CHECK(fpu.mxcsr == 0x1f80);
    CHECK(fpu.fsw == 0);
}

TEST_CASE("set_lapic_lint sets LINT0 to ExtINT and LINT1 to NMI, keeping other bits",
          "[boot][cpu]") {
    kvm_lapic_state lapic{};
    for (size_t i = 0; i < sizeof lapic.regs; ++i) lapic.regs[i] = static_cast<char>(i * 13);
    set_lapic_reg(lapic, 0x350, 0x0001a5ff);  // masked, delivery mode 101b, other bits set
    set_lapic_reg(lapic, 0x360, 0x000100f0);  // masked, fixed
    kvm_lapic_state const before = lapic;

    set_lapic_lint(lapic);

    CHECK(lapic_reg(lapic, 0x350) == 0x0001a7ff);
    CHECK((lapic_reg(lapic, 0x350) & 0x700) == 0x700);
    CHECK(lapic_reg(lapic, 0x360) == 0x000104f0);
    CHECK((lapic_reg(lapic, 0x360) & 0x700) == 0x400);
    for (size_t i = 0; i < sizeof lapic.regs; ++i) {
        if ((i >= 0x350 && i < 0x354) || (i >= 0x360 && i < 0x364)) continue;
        INFO("byte " << i);
        REQUIRE(lapic.regs[i] == before.regs[i]);
    }

    kvm_lapic_state zero{};
    set_lapic_lint(zero);
    CHECK(lapic_reg(zero, 0x350) == 0x700);
    CHECK(lapic_reg(zero, 0x360) == 0x400);
}
