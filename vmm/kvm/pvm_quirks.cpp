// SPDX-License-Identifier: Apache-2.0
// The pvm emulation-gap fallback: prefix decoder, the table of gaps, the SYSCALL completion and
// the Vcpu glue. Every guest value read here is bounded: a short read, a failed translation or
// an unexpected form means "not handled", which ends in the ordinary crash report.
#include "vmm/kvm/pvm_quirks.h"

#include <algorithm>
#include <bit>
#include <cstring>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

namespace vmm::kvm::pvm {

namespace {

// RFLAGS bits (Intel SDM vol. 1 §3.4.3).
constexpr uint64_t kCarry = 1ull << 0;
constexpr uint64_t kFixedOne = 1ull << 1;
constexpr uint64_t kParity = 1ull << 2;
constexpr uint64_t kAdjust = 1ull << 4;
constexpr uint64_t kZero = 1ull << 6;
constexpr uint64_t kSign = 1ull << 7;
constexpr uint64_t kOverflow = 1ull << 11;
constexpr uint64_t kResume = 1ull << 16;
constexpr uint64_t kAlignmentCheck = 1ull << 18;

constexpr uint64_t kCr0ProtectionEnable = 1ull << 0;
constexpr uint64_t kEferLongModeActive = 1ull << 10;

// What KVM itself answers to an unknown hypercall: -KVM_ENOSYS (include/uapi/linux/kvm_para.h).
constexpr int64_t kHypercallEnosys = -1000;
constexpr uint8_t kBreakpointVector = 3;

enum Register : uint8_t { kRax, kRcx, kRdx, kRbx, kRsp, kRbp, kRsi, kRdi };
enum Segment : uint8_t { kEs, kCs, kSs, kDs, kFs, kGs, kNoSegment = 0xff };

// Legacy prefixes and REX as bits (Intel SDM vol. 2 §2.1.1, §2.2.1).
enum PrefixBit : uint16_t {
    kOperandSize = 1 << 0,  // 66
    kAddressSize = 1 << 1,  // 67
    kLock = 1 << 2,         // F0
    kRep = 1 << 3,          // F3
    kRepne = 1 << 4,        // F2
    kSegmentOverride = 1 << 5,
    kRexPrefix = 1 << 6,
};

struct Prefixes {
    uint16_t seen = 0;
    uint8_t segment = kNoSegment;
    uint8_t rex = 0;
    size_t length = 0;
    bool rex_w() const { return rex & 8; }
    unsigned rex_r() const { return (rex & 4) ? 8 : 0; }
    unsigned rex_x() const { return (rex & 2) ? 8 : 0; }
    unsigned rex_b() const { return (rex & 1) ? 8 : 0; }
};

Prefixes decode_prefixes(std::span<uint8_t const> code, CodeMode mode) {
    Prefixes p;
    while (p.length < code.size()) {
        uint8_t const b = code[p.length];
        uint16_t bit = 0;
        switch (b) {
            case 0x66: bit = kOperandSize; break;
            case 0x67: bit = kAddressSize; break;
            case 0xf0: bit = kLock; break;
            case 0xf3: bit = kRep; break;
            case 0xf2: bit = kRepne; break;
            case 0x26:
            case 0x2e:
            case 0x36:
            case 0x3e:  // es, cs, ss, ds: bits 4:3 of the byte are the segment number
                bit = kSegmentOverride;
                p.segment = static_cast<uint8_t>((b >> 3) & 3);
                break;
            case 0x64:
                bit = kSegmentOverride;
                p.segment = kFs;
                break;
            case 0x65:
                bit = kSegmentOverride;
                p.segment = kGs;
                break;
            default: break;
        }
        if (bit == 0) break;
        p.seen |= bit;
        ++p.length;
    }
    // REX counts only in 64-bit code (40-4F are inc/dec elsewhere) and only right before the
    // opcode; a legacy prefix after it leaves an opcode the table does not match.
    if (mode == CodeMode::Bits64 && p.length < code.size() && (code[p.length] & 0xf0) == 0x40) {
        p.rex = code[p.length];
        p.seen |= kRexPrefix;
        ++p.length;
    }
    return p;
}

/// One instruction being emulated: handlers read operands and add what they use to length.
struct Step {
    CpuState& state;
    Prefixes const& prefixes;
    std::span<uint8_t const> operands;  // the bytes after the opcode
    size_t length;                      // prefixes + opcode + what handlers consumed
    ReadLinear const& read_data;
    bool inject_breakpoint = false;
};

/// The linear address of a ModRM memory operand (Intel SDM vol. 2 §2.1.5, §2.2.1.6), parsing
/// SIB and displacement; nullopt for 16-bit addressing or when the bytes run out.
std::optional<uint64_t> memory_operand(Step const& s, uint8_t modrm, size_t& used) {
    auto const& p = s.prefixes;
    auto const& st = s.state;
    bool const long64 = st.mode == CodeMode::Bits64;
    if (!long64 && (p.seen & kAddressSize)) return std::nullopt;  // 16-bit addressing
    bool const address32 = !long64 || (p.seen & kAddressSize);
    unsigned const mod = modrm >> 6;
    unsigned const rm = modrm & 7;
    uint64_t offset = 0;
    uint8_t segment = kDs;
    bool displacement32 = mod == 2;
    bool rip_relative = false;
    if (rm == 4) {
        if (used >= s.operands.size()) return std::nullopt;
        uint8_t const sib = s.operands[used++];
        unsigned const index = ((sib >> 3) & 7) | p.rex_x();
        unsigned const base = (sib & 7) | p.rex_b();
        if (index != kRsp) offset += st.gpr[index] << (sib >> 6);  // 100 without REX.X: none
        if ((base & 7) == kRbp && mod == 0) {
            displacement32 = true;  // no base register
        } else {
            offset += st.gpr[base];
            if ((base & 7) == kRsp || (base & 7) == kRbp) segment = kSs;
        }
    } else if (rm == 5 && mod == 0) {
        displacement32 = true;
        rip_relative = long64;  // 32-bit code: an absolute disp32
    } else {
        offset += st.gpr[rm | p.rex_b()];
        if (rm == kRbp) segment = kSs;
    }
    if (mod == 1) {
        if (used >= s.operands.size()) return std::nullopt;
        offset += static_cast<uint64_t>(int64_t{static_cast<int8_t>(s.operands[used++])});
    } else if (displacement32) {
        if (s.operands.size() - used < 4) return std::nullopt;
        uint32_t raw = 0;
        for (unsigned i = 0; i < 4; ++i) raw |= uint32_t{s.operands[used + i]} << (8 * i);
        used += 4;
        offset += static_cast<uint64_t>(int64_t{static_cast<int32_t>(raw)});
    }
    // Relative to the next instruction; popcnt has no immediate, so it ends here.
    if (rip_relative) offset += st.rip + s.length + used;
    if (address32) offset &= 0xffffffff;
    if (p.segment != kNoSegment) segment = p.segment;
    if (long64) {
        // 64-bit mode ignores the ES, CS, SS and DS bases (Intel SDM vol. 1 §3.3.7.1).
        return segment == kFs || segment == kGs ? offset + st.segment_base[segment] : offset;
    }
    return (st.segment_base[segment] + offset) & 0xffffffff;
}

bool emulate_int3(Step& s) {
    // rip moves past the int3 first: the #BP handler sees rip after it, as on hardware.
    s.inject_breakpoint = true;
    return true;
}

bool emulate_clac(Step& s) {
    s.state.rflags &= ~kAlignmentCheck;
    return true;
}

bool emulate_stac(Step& s) {
    s.state.rflags |= kAlignmentCheck;
    return true;
}

// fwait only raises a pending x87 exception; Linux issues it where it drops FPU state and
// ignores such an exception (an exception-table fixup), so skipping it is what it asks for.
bool emulate_fwait(Step&) { return true; }

bool emulate_hypercall(Step& s) {
    uint64_t const result = static_cast<uint64_t>(kHypercallEnosys);
    s.state.gpr[kRax] = s.state.mode == CodeMode::Bits64 ? result : (result & 0xffffffff);
    return true;
}

// popcnt r, r/m (F3 [REX] 0F B8 /r): ZF from the source, CF PF AF SF OF cleared.
bool emulate_popcnt(Step& s) {
    auto const& p = s.prefixes;
    if (s.operands.empty()) return false;
    uint8_t const modrm = s.operands[0];
    size_t used = 1;
    unsigned const size = p.rex_w() ? 8 : (p.seen & kOperandSize) ? 2 : 4;
    uint64_t source = 0;
    if ((modrm >> 6) == 3) {
        source = s.state.gpr[(modrm & 7) | p.rex_b()];
    } else {
        // Only ring 0 is emulated here (ring 3 runs natively on PVM), and KVM_TRANSLATE does
        // not check user access, so a ring-3 read through it could see kernel memory.
        if (s.state.cpl != 0 || !s.read_data) return false;
        auto const address = memory_operand(s, modrm, used);
        if (!address) return false;
        std::array<uint8_t, 8> bytes{};
        if (!s.read_data(*address, std::span(bytes).first(size))) return false;
        for (unsigned i = 0; i < size; ++i) source |= uint64_t{bytes[i]} << (8 * i);
    }
    s.length += used;
    if (size < 8) source &= (uint64_t{1} << (8 * size)) - 1;
    uint64_t const count = static_cast<uint64_t>(std::popcount(source));
    uint64_t& destination = s.state.gpr[((modrm >> 3) & 7) | p.rex_r()];
    // A 32-bit result is zero-extended into the 64-bit register; a 16-bit one keeps the rest.
    destination = size == 2 ? (destination & ~uint64_t{0xffff}) | count : count;
    s.state.rflags &= ~(kCarry | kParity | kAdjust | kZero | kSign | kOverflow);
    if (source == 0) s.state.rflags |= kZero;
    return true;
}

struct Entry {
    Kind kind;
    std::array<uint8_t, 3> opcode;
    uint8_t opcode_length;
    uint16_t required;  // prefixes that must be present
    uint16_t allowed;   // prefixes that may be present besides; any other: not handled
    Trigger trigger;
    bool ring0_only;
    bool (*run)(Step&);
};

// The gaps of reference/pvm-host-facts.md §2-§3. Prefixes the compilers never put on these
// (and that change the meaning of some: F3 0F 01 CA is ERETU) are not handled.
constexpr Entry kTable[] = {
    {Kind::Int3, {0xcc}, 1, 0, 0, Trigger::EmulationFailure, false, emulate_int3},
    {Kind::Clac, {0x0f, 0x01, 0xca}, 3, 0, 0, Trigger::EmulationFailure, true, emulate_clac},
    {Kind::Stac, {0x0f, 0x01, 0xcb}, 3, 0, 0, Trigger::EmulationFailure, true, emulate_stac},
    {Kind::Popcnt, {0x0f, 0xb8}, 2, kRep,
     kOperandSize | kAddressSize | kSegmentOverride | kRexPrefix, Trigger::EmulationFailure, false,
     emulate_popcnt},
    {Kind::Fwait, {0x9b}, 1, 0, 0, Trigger::EmulationFailure, false, emulate_fwait},
    // vmcall (Intel) and vmmcall (AMD) never exit on PVM: only the periodic kick sees them.
    {Kind::Vmcall, {0x0f, 0x01, 0xc1}, 3, 0, 0, Trigger::Kick, true, emulate_hypercall},
    {Kind::Vmcall, {0x0f, 0x01, 0xd9}, 3, 0, 0, Trigger::Kick, true, emulate_hypercall},
};

Entry const* find_entry(Prefixes const& p, std::span<uint8_t const> code) {
    auto const rest = code.subspan(p.length);
    for (auto const& entry : kTable) {
        if (rest.size() < entry.opcode_length ||
            !std::equal(entry.opcode.begin(), entry.opcode.begin() + entry.opcode_length,
                        rest.begin()))
            continue;
        if ((p.seen & entry.required) != entry.required) continue;
        if ((p.seen & ~(entry.required | entry.allowed)) != 0) continue;
        return &entry;
    }
    return nullptr;
}

// xsave, xrstor, xsaveopt (0F AE /4 /5 /6), xrstors, xsavec, xsaves (0F C7 /3 /4 /5), memory
// forms; xgetbv, xsetbv (0F 01 D0 / D1).
bool is_xsave_family(std::span<uint8_t const> rest) {
    if (rest.size() < 3 || rest[0] != 0x0f) return false;
    unsigned const mod = rest[2] >> 6;
    unsigned const reg = (rest[2] >> 3) & 7;
    if (rest[1] == 0xae) return mod != 3 && reg >= 4 && reg <= 6;
    if (rest[1] == 0xc7) return mod != 3 && reg >= 3 && reg <= 5;
    return rest[1] == 0x01 && (rest[2] == 0xd0 || rest[2] == 0xd1);
}

void store(kvm_regs& r, CpuState const& st) {
    auto const& g = st.gpr;
    r.rax = g[0], r.rcx = g[1], r.rdx = g[2], r.rbx = g[3], r.rsp = g[4], r.rbp = g[5];
    r.rsi = g[6], r.rdi = g[7], r.r8 = g[8], r.r9 = g[9], r.r10 = g[10], r.r11 = g[11];
    r.r12 = g[12], r.r13 = g[13], r.r14 = g[14], r.r15 = g[15];
    r.rip = st.rip;
    r.rflags = st.rflags;
}

kvm_segment flat_segment(uint16_t selector, uint8_t type, bool code) {
    kvm_segment s{};
    s.base = 0;
    s.limit = 0xffffffff;
    s.selector = selector;
    s.type = type;
    s.present = 1;
    s.dpl = 0;
    s.db = code ? 0 : 1;  // a 64-bit code segment has D = 0
    s.s = 1;
    s.l = code ? 1 : 0;
    s.g = 1;
    return s;
}

}  // namespace

std::string_view kind_name(Kind kind) {
    switch (kind) {
        case Kind::Int3: return "int3";
        case Kind::Clac: return "clac";
        case Kind::Stac: return "stac";
        case Kind::Popcnt: return "popcnt";
        case Kind::Fwait: return "fwait";
        case Kind::Vmcall: return "vmcall";
        case Kind::Syscall: return "syscall";
    }
    return "?";
}

std::optional<Emulated> emulate(CpuState const& state, std::span<uint8_t const> code,
                                Trigger trigger, ReadLinear const& read_data) {
    if (state.mode == CodeMode::Bits16) return std::nullopt;  // real mode: no gap seen there
    code = code.first(std::min(code.size(), kMaxInstructionLength));
    Prefixes const prefixes = decode_prefixes(code, state.mode);
    Entry const* entry = find_entry(prefixes, code);
    if (entry == nullptr || entry->trigger != trigger || (entry->ring0_only && state.cpl != 0))
        return std::nullopt;
    Emulated result{entry->kind, state, false};
    size_t const opcode_end = prefixes.length + entry->opcode_length;
    Step step{result.state, prefixes, code.subspan(opcode_end), opcode_end, read_data};
    if (!entry->run(step) || step.length > code.size()) return std::nullopt;
    uint64_t next = state.rip + step.length;
    if (state.mode != CodeMode::Bits64) next &= 0xffffffff;
    result.state.rip = next;
    // A completed instruction clears RF (Intel SDM vol. 3A §18.3.1.1).
    result.state.rflags = (result.state.rflags & ~kResume) | kFixedOne;
    result.inject_breakpoint = step.inject_breakpoint;
    return result;
}

std::optional<Kind> classify(std::span<uint8_t const> code, CodeMode mode) {
    code = code.first(std::min(code.size(), kMaxInstructionLength));
    Entry const* entry = find_entry(decode_prefixes(code, mode), code);
    if (entry == nullptr) return std::nullopt;
    return entry->kind;
}

std::string emulation_failure_hint(std::span<uint8_t const> code, CodeMode mode,
                                   bool fallback_active) {
    code = code.first(std::min(code.size(), kMaxInstructionLength));
    if (is_xsave_family(code.subspan(decode_prefixes(code, mode).length)))
        return "an XSAVE-family instruction: boot the guest with 'noxsave' (the pvm host profile "
               "adds it)";
    auto const kind = classify(code, mode);
    if (kind == Kind::Vmcall)
        return "a hypercall at ring 0 (e.g. from ptp_kvm): build the guest kernel without "
               "CONFIG_PTP_1588_CLOCK_KVM";
    if (kind && !fallback_active)
        return fmt::format("{} is one of the instructions a PVM host's KVM cannot emulate; "
                           "--host-profile pvm (auto on a PVM host) emulates it",
                           kind_name(*kind));
    if (kind)
        return fmt::format("{} in a form or mode the pvm fallback does not handle "
                           "(vmm/kvm/pvm_quirks.cpp)",
                           kind_name(*kind));
    if (!fallback_active)
        return "KVM's instruction emulator cannot run this instruction (often an unusual "
               "instruction touching MMIO)";
    return "KVM's emulator on this PVM host cannot run this instruction and the pvm fallback has "
           "no entry for it (vmm/kvm/pvm_quirks.cpp); a guest kernel built for this host avoids "
           "most such instructions";
}

std::optional<uint64_t> idt_gate_handler(std::span<uint8_t const> gate) {
    if (gate.size() < 16) return std::nullopt;
    auto bytes = [&](size_t at, size_t count) {
        uint64_t value = 0;
        for (size_t i = 0; i < count; ++i) value |= uint64_t{gate[at + i]} << (8 * i);
        return value;
    };
    bool const present = gate[5] & 0x80;
    unsigned const type = gate[5] & 0xf;
    if (!present || (type != 0xe && type != 0xf)) return std::nullopt;
    return bytes(0, 2) | bytes(6, 2) << 16 | bytes(8, 4) << 32;
}

bool at_handler_entry(uint64_t rip, uint64_t handler, std::span<uint8_t const> handler_bytes) {
    if (rip == handler) return true;
    static constexpr std::array<uint8_t, 4> kEndbr64{0xf3, 0x0f, 0x1e, 0xfa};
    return rip == handler + kEndbr64.size() && handler_bytes.size() >= kEndbr64.size() &&
           std::equal(kEndbr64.begin(), kEndbr64.end(), handler_bytes.begin());
}

std::optional<SyscallCompletion> complete_syscall(SyscallEvidence const& e) {
    if (e.mode != CodeMode::Bits64 || e.cpl != 0) return std::nullopt;
    if (!at_handler_entry(e.rip, e.pf_handler, e.handler_bytes)) return std::nullopt;
    uint64_t const frame_rip = e.frame[1];
    uint64_t const frame_cs = e.frame[2];
    uint64_t const frame_rsp = e.frame[4];
    if (e.lstar == 0 || frame_rip != e.lstar || (frame_cs & 3) != 3) return std::nullopt;
    // Intel SDM vol. 2B, SYSCALL: CS = STAR[47:32] & ~3, SS = STAR[47:32] + 8.
    uint16_t const star_selector = static_cast<uint16_t>(e.star >> 32);
    uint16_t const cs = star_selector & 0xfffc;
    if (cs == 0) return std::nullopt;  // STAR not set up: no SYSCALL the kernel expects
    return SyscallCompletion{
        .rip = e.lstar,
        .rsp = frame_rsp,
        .rflags = (e.r11 & ~e.sfmask & ~kResume) | kFixedOne,
        .cs = cs,
        .ss = static_cast<uint16_t>(star_selector + 8),
    };
}

size_t read_linear(uint64_t linear, std::span<uint8_t> out, Translate const& translate,
                   ReadPhysical const& read_physical) {
    constexpr uint64_t kPage = 4096;
    size_t done = 0;
    while (done < out.size()) {
        uint64_t const address = linear + done;
        if (done > 0 && address < linear) break;  // wrapped past the top of the address space
        size_t const chunk =
            static_cast<size_t>(std::min<uint64_t>(out.size() - done, kPage - (address % kPage)));
        auto const physical = translate(address);
        if (!physical || !read_physical(*physical, out.subspan(done, chunk))) break;
        done += chunk;
    }
    return done;
}

void Stats::count(Kind kind, uint32_t vcpu, uint64_t rip) {
    if (m_counts[static_cast<size_t>(kind)].fetch_add(1, std::memory_order_relaxed) == 0)
        spdlog::debug("vCPU {}: pvm fallback: first {} (rip {:#x})", vcpu, kind_name(kind), rip);
}

uint64_t Stats::total(Kind kind) const {
    return m_counts[static_cast<size_t>(kind)].load(std::memory_order_relaxed);
}

std::string Stats::summary() const {
    std::string text;
    for (size_t i = 0; i < kKindCount; ++i) {
        auto const kind = static_cast<Kind>(i);
        text += fmt::format("{}{} {}", text.empty() ? "" : ", ", kind_name(kind), total(kind));
    }
    return text;
}

CpuState cpu_state(kvm_regs const& r, kvm_sregs const& s) {
    CpuState st;
    st.gpr = {r.rax, r.rcx, r.rdx, r.rbx, r.rsp, r.rbp, r.rsi, r.rdi,
              r.r8,  r.r9,  r.r10, r.r11, r.r12, r.r13, r.r14, r.r15};
    st.rip = r.rip;
    st.rflags = r.rflags;
    bool const protected_mode = s.cr0 & kCr0ProtectionEnable;
    st.cpl = protected_mode ? static_cast<uint8_t>(s.cs.selector & 3) : 0;
    if (s.cs.l && (s.efer & kEferLongModeActive))
        st.mode = CodeMode::Bits64;
    else
        st.mode = protected_mode && s.cs.db ? CodeMode::Bits32 : CodeMode::Bits16;
    st.segment_base = {s.es.base, s.cs.base, s.ss.base, s.ds.base, s.fs.base, s.gs.base};
    return st;
}

uint64_t code_address(CpuState const& state) {
    if (state.mode == CodeMode::Bits64) return state.rip;  // CS.base is ignored in 64-bit mode
    return (state.segment_base[kCs] + state.rip) & 0xffffffff;
}

bool PvmQuirks::recover_emulation_failure(Vcpu& vcpu) {
    return handle(vcpu, Trigger::EmulationFailure);
}

void PvmQuirks::on_kick(Vcpu& vcpu) { (void)handle(vcpu, Trigger::Kick); }

bool PvmQuirks::handle(Vcpu& vcpu, Trigger trigger) {
    auto const regs = vcpu.regs();
    auto const sregs = vcpu.sregs();
    if (!regs || !sregs) return false;
    CpuState const state = cpu_state(*regs, *sregs);
    Translate const translate = [&vcpu](uint64_t linear) -> std::optional<uint64_t> {
        auto translation = vcpu.translate(linear);
        if (!translation || !translation->valid) return std::nullopt;
        return translation->physical_address;
    };
    std::array<uint8_t, kMaxInstructionLength> code{};
    size_t const fetched = read_linear(code_address(state), code, translate, m_read_physical);
    auto const bytes = std::span<uint8_t const>(code).first(fetched);

    if (trigger == Trigger::EmulationFailure && classify(bytes, state.mode) == Kind::Clac &&
        try_complete_syscall(vcpu, *regs, *sregs, state, translate))
        return true;

    ReadLinear const read_data = [&](uint64_t linear, std::span<uint8_t> out) {
        return read_linear(linear, out, translate, m_read_physical) == out.size();
    };
    auto const result = emulate(state, bytes, trigger, read_data);
    if (!result) return false;
    std::optional<kvm_vcpu_events> events;
    if (result->inject_breakpoint) {
        auto current = vcpu.vcpu_events();
        // Never overwrite an exception KVM is already delivering.
        if (!current || current->exception.injected) return false;
        events = *current;
        events->exception.injected = 1;
        events->exception.nr = kBreakpointVector;
        events->exception.has_error_code = 0;
        events->exception.error_code = 0;
    }
    kvm_regs updated = *regs;
    store(updated, result->state);
    if (!vcpu.set_regs(updated)) return false;
    if (events && !vcpu.set_vcpu_events(*events)) return false;
    m_stats.count(result->kind, vcpu.id(), state.rip);
    return true;
}

bool PvmQuirks::try_complete_syscall(Vcpu& vcpu, kvm_regs const& regs, kvm_sregs sregs,
                                     CpuState const& state, Translate const& translate) {
    constexpr uint64_t kPageFaultVector = 14;
    constexpr uint64_t kGateSize = 16;
    if (state.mode != CodeMode::Bits64 || state.cpl != 0) return false;
    if (sregs.idt.limit < kPageFaultVector * kGateSize + kGateSize - 1) return false;
    std::array<uint8_t, kGateSize> gate{};
    if (read_linear(sregs.idt.base + kPageFaultVector * kGateSize, gate, translate,
                    m_read_physical) != gate.size())
        return false;
    auto const handler = idt_gate_handler(gate);
    if (!handler) return false;
    SyscallEvidence evidence{.mode = state.mode,
                             .cpl = state.cpl,
                             .rip = regs.rip,
                             .pf_handler = *handler,
                             .handler_bytes = {},
                             .frame = {},
                             .r11 = regs.r11};
    if (regs.rip == *handler + 4)  // a short read leaves zeros: no endbr64, no match
        (void)read_linear(*handler, evidence.handler_bytes, translate, m_read_physical);
    if (!at_handler_entry(regs.rip, *handler, evidence.handler_bytes)) return false;
    std::array<uint8_t, sizeof evidence.frame> frame{};
    if (read_linear(regs.rsp, frame, translate, m_read_physical) != frame.size()) return false;
    std::memcpy(evidence.frame.data(), frame.data(), frame.size());  // x86: little-endian
    if ((evidence.frame[2] & 3) != 3) return false;  // a #PF from ring 0: nothing to complete
    std::array<kvm_msr_entry, 3> msrs{};
    msrs[0].index = kMsrLstar;
    msrs[1].index = kMsrStar;
    msrs[2].index = kMsrSfmask;
    if (!vcpu.get_msrs(msrs)) return false;
    evidence.lstar = msrs[0].data;
    evidence.star = msrs[1].data;
    evidence.sfmask = msrs[2].data;
    auto const done = complete_syscall(evidence);
    if (!done) return false;
    sregs.cs = flat_segment(done->cs, 0xb, true);   // execute/read, accessed
    sregs.ss = flat_segment(done->ss, 0x3, false);  // read/write, accessed
    kvm_regs updated = regs;
    updated.rip = done->rip;
    updated.rsp = done->rsp;
    updated.rflags = done->rflags;
    if (!vcpu.set_sregs(sregs) || !vcpu.set_regs(updated)) return false;
    m_stats.count(Kind::Syscall, vcpu.id(), regs.rip);
    return true;
}

}  // namespace vmm::kvm::pvm
