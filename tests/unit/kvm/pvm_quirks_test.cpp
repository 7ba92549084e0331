// SPDX-License-Identifier: Apache-2.0
// The pvm emulation-gap fallback's pure core: each table entry, the prefix and ModRM decoding,
// what it refuses, page-crossing reads and the SYSCALL completion on a synthetic #PF frame.
#include <catch2/catch.hpp>

#include <array>
#include <cstring>
#include <map>
#include <vector>

#include "vmm/kvm/pvm_quirks.h"

using namespace vmm::kvm::pvm;

namespace {

constexpr uint64_t kAc = 1ull << 18;
constexpr uint64_t kIf = 1ull << 9;
constexpr uint64_t kZf = 1ull << 6;
constexpr uint64_t kArithmetic = 0x8d5;  // CF PF AF ZF SF OF
enum : size_t { rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8, r9 };

CpuState kernel_state(uint64_t rip = 0xffffffff81000000) {
    CpuState s;
    s.rip = rip;
    s.rflags = 0x2 | kIf;
    s.cpl = 0;
    s.mode = CodeMode::Bits64;
    return s;
}

std::optional<Emulated> run(CpuState const& s, std::vector<uint8_t> const& code,
                            Trigger trigger = Trigger::EmulationFailure,
                            ReadLinear const& read = {}) {
    return emulate(s, code, trigger, read);
}

/// Guest memory at linear addresses [base, base + size) for memory operands.
struct FakeMemory {
    uint64_t base;
    std::vector<uint8_t> bytes;
    ReadLinear reader() {
        return [this](uint64_t linear, std::span<uint8_t> out) {
            if (linear < base || linear - base > bytes.size() ||
                out.size() > bytes.size() - (linear - base))
                return false;
            std::memcpy(out.data(), bytes.data() + (linear - base), out.size());
            return true;
        };
    }
    void put64(uint64_t linear, uint64_t value) {
        std::memcpy(bytes.data() + (linear - base), &value, sizeof value);
    }
};

std::vector<uint8_t> with_disp32(std::vector<uint8_t> code, uint32_t disp) {
    for (int i = 0; i < 4; ++i) code.push_back(static_cast<uint8_t>(disp >> (8 * i)));
    return code;
}

}  // namespace

TEST_CASE("int3 moves rip past it and asks for #BP", "[pvm]") {
    auto r = run(kernel_state(0x1000), {0xcc, 0x90});
    REQUIRE(r);
    CHECK(r->kind == Kind::Int3);
    CHECK(r->state.rip == 0x1001);
    CHECK(r->inject_breakpoint);
    auto user = kernel_state(0x1000);
    user.cpl = 3;
    CHECK(run(user, {0xcc}));  // int3 is legal in every ring
    CHECK_FALSE(run(kernel_state(), {0xcc}, Trigger::Kick));
    CHECK_FALSE(run(kernel_state(), {0xf0, 0xcc}));  // lock int3 is #UD
}

TEST_CASE("clac and stac clear and set RFLAGS.AC at ring 0 only", "[pvm]") {
    auto s = kernel_state(0x2000);
    s.rflags |= kAc;
    auto clac = run(s, {0x0f, 0x01, 0xca});
    REQUIRE(clac);
    CHECK(clac->kind == Kind::Clac);
    CHECK(clac->state.rip == 0x2003);
    CHECK((clac->state.rflags & kAc) == 0);
    CHECK((clac->state.rflags & kIf) != 0);
    CHECK_FALSE(clac->inject_breakpoint);

    auto stac = run(kernel_state(0x2000), {0x0f, 0x01, 0xcb});
    REQUIRE(stac);
    CHECK(stac->kind == Kind::Stac);
    CHECK(stac->state.rip == 0x2003);
    CHECK((stac->state.rflags & kAc) != 0);

    auto user = kernel_state();
    user.cpl = 3;
    CHECK_FALSE(run(user, {0x0f, 0x01, 0xca}));
    CHECK_FALSE(run(kernel_state(), {0xf3, 0x0f, 0x01, 0xca}));  // ERETU, not clac
    CHECK_FALSE(run(kernel_state(), {0xf2, 0x0f, 0x01, 0xca}));  // ERETS
    CHECK_FALSE(run(kernel_state(), {0x0f, 0x01}));              // cut short
    CHECK_FALSE(run(kernel_state(), {0x0f, 0x01, 0xca}, Trigger::Kick));
}

TEST_CASE("fwait is skipped; RF is cleared after any emulated instruction", "[pvm]") {
    auto s = kernel_state(0x3000);
    s.rflags |= 1ull << 16;
    auto r = run(s, {0x9b});
    REQUIRE(r);
    CHECK(r->kind == Kind::Fwait);
    CHECK(r->state.rip == 0x3001);
    CHECK(r->state.rflags == (0x2 | kIf));
    CHECK(r->state.gpr == s.gpr);
}

TEST_CASE("vmcall and vmmcall return -KVM_ENOSYS, only on the kick and at ring 0", "[pvm]") {
    for (uint8_t last : {uint8_t{0xc1}, uint8_t{0xd9}}) {
        INFO("0f 01 " << int(last));
        auto s = kernel_state(0x4000);
        s.gpr[rax] = 9;  // KVM_HC_CLOCK_PAIRING, as ptp_kvm issues it
        auto r = run(s, {0x0f, 0x01, last}, Trigger::Kick);
        REQUIRE(r);
        CHECK(r->kind == Kind::Vmcall);
        CHECK(r->state.gpr[rax] == static_cast<uint64_t>(-1000));
        CHECK(r->state.rip == 0x4003);
        CHECK_FALSE(run(s, {0x0f, 0x01, last}, Trigger::EmulationFailure));
        s.cpl = 3;
        CHECK_FALSE(run(s, {0x0f, 0x01, last}, Trigger::Kick));
    }
    auto s32 = kernel_state(0x4000);
    s32.mode = CodeMode::Bits32;
    s32.gpr[rax] = 0xdead'beef'0000'0009;
    auto r = run(s32, {0x0f, 0x01, 0xc1}, Trigger::Kick);
    REQUIRE(r);
    CHECK(r->state.gpr[rax] == 0xffff'fc18);
}

TEST_CASE("popcnt register forms: 16, 32 and 64 bits, REX registers, flags", "[pvm]") {
    auto s = kernel_state(0x5000);
    s.gpr[rax] = 0x1234'5678'9abc'def0;
    s.gpr[rcx] = 0xffff'ffff'0001'ffff;
    s.rflags |= kArithmetic;

    SECTION("32-bit: popcnt eax, ecx counts the low half and zero-extends") {
        auto r = run(s, {0xf3, 0x0f, 0xb8, 0xc1});
        REQUIRE(r);
        CHECK(r->kind == Kind::Popcnt);
        CHECK(r->state.gpr[rax] == 17);
        CHECK(r->state.rip == 0x5004);
        CHECK((r->state.rflags & kArithmetic) == 0);
    }
    SECTION("64-bit: popcnt rax, rcx") {
        auto r = run(s, {0xf3, 0x48, 0x0f, 0xb8, 0xc1});
        REQUIRE(r);
        CHECK(r->state.gpr[rax] == 49);
        CHECK(r->state.rip == 0x5005);
    }
    SECTION("16-bit: popcnt ax, cx keeps the rest of rax; 66 before or after F3") {
        for (auto code : {std::vector<uint8_t>{0x66, 0xf3, 0x0f, 0xb8, 0xc1},
                          std::vector<uint8_t>{0xf3, 0x66, 0x0f, 0xb8, 0xc1}}) {
            auto r = run(s, code);
            REQUIRE(r);
            CHECK(r->state.gpr[rax] == 0x1234'5678'9abc'0010);
            CHECK(r->state.rip == 0x5005);
        }
    }
    SECTION("REX.R and REX.B: popcnt r8, r9") {
        s.gpr[r9] = 0xff;
        auto r = run(s, {0xf3, 0x4d, 0x0f, 0xb8, 0xc1});
        REQUIRE(r);
        CHECK(r->state.gpr[r8] == 8);
        CHECK(r->state.gpr[rax] == s.gpr[rax]);
    }
    SECTION("a zero source sets ZF and only ZF") {
        s.gpr[rdx] = 0;
        auto r = run(s, {0xf3, 0x48, 0x0f, 0xb8, 0xda});  // popcnt rbx, rdx
        REQUIRE(r);
        CHECK(r->state.gpr[rbx] == 0);
        CHECK((r->state.rflags & kArithmetic) == kZf);
    }
    SECTION("32-bit code: popcnt eax, ecx, a segment override is harmless") {
        s.mode = CodeMode::Bits32;
        s.rip = 0xffff'fffc;
        auto r = run(s, {0x3e, 0xf3, 0x0f, 0xb8, 0xc1});
        REQUIRE(r);
        CHECK(r->state.gpr[rax] == 17);
        CHECK(r->state.rip == 0x1);  // eip wraps at 4 GiB
    }
}

TEST_CASE("popcnt memory forms read the operand through guest memory", "[pvm]") {
    FakeMemory memory{0x10000, std::vector<uint8_t>(0x100)};
    memory.put64(0x10008, 0x0000'0000'0000'0f0f);
    memory.put64(0x10040, 0xffff'ffff'ffff'ffff);
    auto s = kernel_state(0x2000);
    auto const read = memory.reader();

    SECTION("rip-relative: popcnt rax, [rip + disp32] (relative to the next instruction)") {
        // f3 48 0f b8 05 disp32: 9 bytes, so the operand is at 0x2009 + disp.
        auto r = run(s, with_disp32({0xf3, 0x48, 0x0f, 0xb8, 0x05}, 0x10008 - 0x2009),
                     Trigger::EmulationFailure, read);
        REQUIRE(r);
        CHECK(r->state.gpr[rax] == 8);
        CHECK(r->state.rip == 0x2009);
    }
    SECTION("SIB with disp8: popcnt eax, [rbx + rsi*4 + 0x10]") {
        s.gpr[rbx] = 0x10020;
        s.gpr[rsi] = 4;
        auto r = run(s, {0xf3, 0x0f, 0xb8, 0x44, 0xb3, 0x10}, Trigger::EmulationFailure, read);
        REQUIRE(r);
        CHECK(r->state.gpr[rax] == 32);  // 32-bit operand of all ones
        CHECK(r->state.rip == 0x2006);
    }
    SECTION("gs override with an absolute disp32 (SIB, no base, no index)") {
        s.segment_base[5] = 0x10000;
        auto r = run(s, with_disp32({0x65, 0xf3, 0x48, 0x0f, 0xb8, 0x0c, 0x25}, 0x40),
                     Trigger::EmulationFailure, read);
        REQUIRE(r);
        CHECK(r->state.gpr[rcx] == 64);
        CHECK(r->state.rip == 0x200b);
    }
    SECTION("32-bit code: [ebx] adds the DS base") {
        s.mode = CodeMode::Bits32;
        s.segment_base[3] = 0x10000;
        s.gpr[rbx] = 8;
        auto r = run(s, {0xf3, 0x0f, 0xb8, 0x03}, Trigger::EmulationFailure, read);
        REQUIRE(r);
        CHECK(r->state.gpr[rax] == 8);
    }
    SECTION("refused: ring 3, unreadable memory, missing bytes, 16-bit addressing") {
        s.gpr[rbx] = 0x10040;
        std::vector<uint8_t> const code{0xf3, 0x48, 0x0f, 0xb8, 0x03};  // popcnt rax, [rbx]
        REQUIRE(run(s, code, Trigger::EmulationFailure, read));
        auto user = s;
        user.cpl = 3;
        CHECK_FALSE(run(user, code, Trigger::EmulationFailure, read));
        CHECK_FALSE(run(s, code));  // no reader
        s.gpr[rbx] = 0x90000;
        CHECK_FALSE(run(s, code, Trigger::EmulationFailure, read));
        CHECK_FALSE(run(s, {0xf3, 0x48, 0x0f, 0xb8, 0x05, 0x00, 0x00}, Trigger::EmulationFailure,
                        read));  // disp32 cut short
        CHECK_FALSE(run(s, {0xf3, 0x0f, 0xb8, 0x44}, Trigger::EmulationFailure, read));  // no SIB
        auto s32 = s;
        s32.mode = CodeMode::Bits32;
        CHECK_FALSE(run(s32, {0x67, 0xf3, 0x0f, 0xb8, 0x07}, Trigger::EmulationFailure, read));
    }
}

TEST_CASE("Prefixes, modes and bytes the table does not know are not handled", "[pvm]") {
    auto const s = kernel_state();
    CHECK_FALSE(run(s, {}));
    CHECK_FALSE(run(s, {0x90}));
    CHECK_FALSE(run(s, {0x0f, 0xb8, 0xc1}));              // jmpe (no F3): not popcnt
    CHECK_FALSE(run(s, {0xf2, 0x0f, 0xb8, 0xc1}));        // F2 instead of F3
    CHECK_FALSE(run(s, {0xf2, 0xf3, 0x0f, 0xb8, 0xc1}));  // both
    CHECK_FALSE(run(s, {0xf0, 0xf3, 0x0f, 0xb8, 0xc1}));  // lock: #UD
    CHECK_FALSE(run(s, {0x48, 0xf3, 0x0f, 0xb8, 0xc1}));  // REX not last: ignored by the CPU
    CHECK_FALSE(run(s, {0x66, 0x0f, 0x01, 0xca}));
    CHECK_FALSE(run(s, {0x0f, 0x01, 0xcc}));
    auto s32 = s;
    s32.mode = CodeMode::Bits32;
    CHECK_FALSE(run(s32, {0xf3, 0x48, 0x0f, 0xb8, 0xc1}));  // 48 is dec eax in 32-bit code
    auto s16 = s;
    s16.mode = CodeMode::Bits16;
    CHECK_FALSE(run(s16, {0xcc}));
    // Longer than 15 bytes: 12 prefixes + f3 0f b8 c1.
    std::vector<uint8_t> long_code(12, 0x66);
    for (uint8_t b : {0xf3, 0x0f, 0xb8, 0xc1}) long_code.push_back(b);
    CHECK_FALSE(run(s, long_code));
    long_code.erase(long_code.begin());  // exactly 15
    CHECK(run(s, long_code));
}

TEST_CASE("read_linear crosses pages through separate translations", "[pvm]") {
    std::map<uint64_t, uint64_t> pages{{0x1000, 0x5000}, {0x2000, 0x9000}};
    Translate const translate = [&](uint64_t linear) -> std::optional<uint64_t> {
        auto it = pages.find(linear & ~uint64_t{0xfff});
        if (it == pages.end()) return std::nullopt;
        return it->second + (linear & 0xfff);
    };
    std::vector<uint64_t> reads;
    ReadPhysical const physical = [&](uint64_t address, std::span<uint8_t> out) {
        reads.push_back(address);
        for (size_t i = 0; i < out.size(); ++i) out[i] = static_cast<uint8_t>(address + i);
        return address < 0x10000;
    };
    std::array<uint8_t, 4> out{};
    CHECK(read_linear(0x1ffe, out, translate, physical) == 4);
    CHECK(reads == std::vector<uint64_t>{0x5ffe, 0x9000});
    CHECK(out == std::array<uint8_t, 4>{0xfe, 0xff, 0x00, 0x01});

    CHECK(read_linear(0x2ffe, out, translate, physical) == 2);  // next page not mapped
    CHECK(read_linear(0x7000, out, translate, physical) == 0);
    pages[0xffff'ffff'ffff'f000] = 0x3000;
    pages[0] = 0x4000;
    CHECK(read_linear(0xffff'ffff'ffff'fffe, out, translate, physical) == 2);  // no wrap
    pages[0x3000] = 0x20000;
    CHECK(read_linear(0x3000, out, translate, physical) == 0);  // not RAM
}

TEST_CASE("IDT gates and handler entries", "[pvm][syscall]") {
    std::array<uint8_t, 16> gate{0x40, 0x0b, 0x10, 0x00, 0x00, 0x8e, 0xa0, 0x81,
                                 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0};
    CHECK(idt_gate_handler(gate) == 0xffff'ffff'81a0'0b40);
    gate[5] = 0x8f;  // trap gate
    CHECK(idt_gate_handler(gate) == 0xffff'ffff'81a0'0b40);
    gate[5] = 0x0e;  // not present
    CHECK_FALSE(idt_gate_handler(gate));
    gate[5] = 0x85;  // task gate
    CHECK_FALSE(idt_gate_handler(gate));
    CHECK_FALSE(idt_gate_handler(std::span(gate).first(8)));

    std::array<uint8_t, 4> const endbr{0xf3, 0x0f, 0x1e, 0xfa};
    std::array<uint8_t, 4> const other{0x0f, 0x01, 0xca, 0xfc};
    CHECK(at_handler_entry(0x1000, 0x1000, other));
    CHECK(at_handler_entry(0x1004, 0x1000, endbr));
    CHECK_FALSE(at_handler_entry(0x1004, 0x1000, other));
    CHECK_FALSE(at_handler_entry(0x1003, 0x1000, endbr));
}

TEST_CASE("A SYSCALL stuck at CPL 3 is completed from the #PF frame", "[pvm][syscall]") {
    constexpr uint64_t kLstar = 0xffff'ffff'81a0'0080;
    constexpr uint64_t kHandler = 0xffff'ffff'81a0'0b40;
    SyscallEvidence e{
        .mode = CodeMode::Bits64,
        .cpl = 0,
        .rip = kHandler + 4,  // on the clac after endbr64
        .pf_handler = kHandler,
        .handler_bytes = {0xf3, 0x0f, 0x1e, 0xfa},
        // error code (user instruction fetch), rip, cs, rflags, rsp, ss
        .frame = {0x15, kLstar, 0x33, 0x246, 0x7ffd'1234'5678, 0x2b},
        .r11 = 0x10246,  // the user's RFLAGS (with RF, which SYSCALL clears)
        .lstar = kLstar,
        .star = 0x0023'0010'0000'0000,
        .sfmask = 0x47700,  // TF DF IF IOPL NT AC, as Linux sets it
    };
    auto done = complete_syscall(e);
    REQUIRE(done);
    CHECK(done->rip == kLstar);
    CHECK(done->rsp == 0x7ffd'1234'5678);
    CHECK(done->rflags == 0x46);
    CHECK(done->cs == 0x10);
    CHECK(done->ss == 0x18);

    e.rip = kHandler;  // a kernel without IBT: the clac is the first instruction
    e.handler_bytes = {0x0f, 0x01, 0xca, 0xfc};
    CHECK(complete_syscall(e));
    e.star = 0x0023'0013'0000'0000;  // an RPL in STAR: CS gets RPL 0, SS keeps what STAR says
    REQUIRE(complete_syscall(e));
    CHECK(complete_syscall(e)->cs == 0x10);
    CHECK(complete_syscall(e)->ss == 0x1b);

    auto refused = [&](auto change) {
        auto copy = e;
        change(copy);
        return !complete_syscall(copy);
    };
    CHECK(refused([](SyscallEvidence& x) { x.frame[2] = 0x10; }));  // #PF from ring 0
    CHECK(refused([](SyscallEvidence& x) { x.frame[1] += 1; }));    // not at LSTAR
    CHECK(refused([](SyscallEvidence& x) { x.rip += 8; }));         // not at the handler entry
    CHECK(refused([](SyscallEvidence& x) { x.cpl = 3; }));
    CHECK(refused([](SyscallEvidence& x) { x.mode = CodeMode::Bits32; }));
    CHECK(refused([](SyscallEvidence& x) { x.lstar = x.frame[1] = 0; }));
    CHECK(refused([](SyscallEvidence& x) { x.star = 0; }));
    CHECK(refused([](SyscallEvidence& x) {
        x.rip = x.pf_handler + 4;  // 4 bytes in, but no endbr64 there
    }));
}

TEST_CASE("An unrecovered emulation failure gets a hint", "[pvm]") {
    auto hint = [](std::vector<uint8_t> code, bool active = true) {
        return emulation_failure_hint(code, CodeMode::Bits64, active);
    };
    CHECK_THAT(hint({0x0f, 0xae, 0x2f}), Catch::Contains("noxsave"));        // xrstor [rdi]
    CHECK_THAT(hint({0x48, 0x0f, 0xae, 0x2f}), Catch::Contains("noxsave"));  // xrstor64
    CHECK_THAT(hint({0x48, 0x0f, 0xc7, 0x1f}), Catch::Contains("noxsave"));  // xrstors64
    CHECK_THAT(hint({0x0f, 0x01, 0xd1}), Catch::Contains("noxsave"));        // xsetbv
    CHECK_THAT(hint({0x0f, 0x01, 0xc1}), Catch::Contains("PTP_1588_CLOCK_KVM"));
    CHECK_THAT(hint({0x0f, 0x01, 0xca}, false), Catch::Contains("--host-profile pvm"));
    CHECK_THAT(hint({0xf3, 0x0f, 0xb8, 0x07}), Catch::Contains("popcnt in a form"));
    CHECK_FALSE(hint({0x90}).empty());
    CHECK_FALSE(hint({}, false).empty());
    CHECK(classify(std::vector<uint8_t>{0xf3, 0x48, 0x0f, 0xb8, 0xc1}, CodeMode::Bits64) ==
          Kind::Popcnt);
    CHECK_FALSE(classify(std::vector<uint8_t>{0x0f, 0xae, 0x2f}, CodeMode::Bits64));
}

TEST_CASE("Stats count each kind", "[pvm]") {
    Stats stats;
    stats.count(Kind::Clac, 0, 0x1000);
    stats.count(Kind::Clac, 1, 0x1000);
    stats.count(Kind::Syscall, 0, 0x2000);
    CHECK(stats.total(Kind::Clac) == 2);
    CHECK(stats.total(Kind::Popcnt) == 0);
    CHECK(stats.summary() == "int3 0, clac 2, stac 0, popcnt 0, fwait 0, vmcall 0, syscall 1");
}

TEST_CASE("cpu_state reads mode, CPL and segment bases from the vCPU registers", "[pvm]") {
    kvm_regs regs{};
    regs.rax = 1;
    regs.r15 = 15;
    regs.rip = 0xffff'ffff'8100'0000;
    kvm_sregs sregs{};
    sregs.cr0 = 0x8000'0011;
    sregs.efer = 0x500;  // LME, LMA
    sregs.cs.l = 1;
    sregs.cs.selector = 0x10;
    sregs.gs.base = 0xffff'8880'0000'0000;
    auto s = cpu_state(regs, sregs);
    CHECK(s.mode == CodeMode::Bits64);
    CHECK(s.cpl == 0);
    CHECK(s.gpr[0] == 1);
    CHECK(s.gpr[15] == 15);
    CHECK(s.segment_base[5] == 0xffff'8880'0000'0000);
    CHECK(code_address(s) == regs.rip);

    sregs.cs.selector = 0x33;
    CHECK(cpu_state(regs, sregs).cpl == 3);
    sregs.cs = {};
    sregs.cs.db = 1;
    sregs.cs.base = 0x1000;
    sregs.efer = 0;
    regs.rip = 0x1'0000'0010;
    s = cpu_state(regs, sregs);
    CHECK(s.mode == CodeMode::Bits32);
    CHECK(code_address(s) == 0x1010);
    sregs.cr0 = 0;  // real mode
    s = cpu_state(regs, sregs);
    CHECK(s.mode == CodeMode::Bits16);
    CHECK(s.cpl == 0);
}
