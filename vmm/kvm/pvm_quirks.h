// SPDX-License-Identifier: Apache-2.0
// The pvm host profile's emulation-gap fallback: the one place that works around what KVM cannot
// do on a PVM host (reference/pvm-host-facts.md §2-§4). On a PVM host the guest's ring 0 runs
// through KVM's instruction emulator, which fails on a few instructions (int3, clac, stac,
// popcnt, fwait: KVM_EXIT_INTERNAL_ERROR, suberror 1), never completes vmcall/vmmcall, and lets a
// user-mode SYSCALL land at LSTAR still in ring 3. Here those are finished from their bytes.
//
// Two halves: a pure, table-driven core over a small CPU state (decode, emulate, decide; tested
// without KVM in tests/unit/kvm/pvm_quirks_test.cpp), and PvmQuirks, the glue that reads that
// state and the bytes at rip from a Vcpu and writes the result back. Only the pvm host profile
// creates a PvmQuirks; on real KVM hosts nothing here runs.
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "vmm/kvm/vcpu.h"

namespace vmm::kvm::pvm {

/// What the fallback handles; each kind is counted.
enum class Kind : uint8_t { Int3, Clac, Stac, Popcnt, Fwait, Vmcall, Syscall };
inline constexpr size_t kKindCount = 7;
std::string_view kind_name(Kind kind);

/// The width of the code segment the vCPU executes (CS.L with EFER.LMA, else CS.D).
enum class CodeMode : uint8_t { Bits16, Bits32, Bits64 };

/// When the fallback is asked: after an emulation failure, or on the periodic kick (a vCPU
/// that spins in KVM_RUN on a hypercall never exits by itself).
enum class Trigger : uint8_t { EmulationFailure, Kick };

/// The registers the fallback reads and writes. gpr[] is in x86 encoding order (the ModRM and
/// REX numbering): rax, rcx, rdx, rbx, rsp, rbp, rsi, rdi, r8 ... r15.
struct CpuState {
    std::array<uint64_t, 16> gpr{};
    uint64_t rip = 0;
    uint64_t rflags = 0;
    uint8_t cpl = 0;
    CodeMode mode = CodeMode::Bits64;
    /// es, cs, ss, ds, fs, gs (the segment-register encoding order).
    std::array<uint64_t, 6> segment_base{};
};

inline constexpr size_t kMaxInstructionLength = 15;  // Intel SDM vol. 2 §2.3.11

/// Reads guest memory at a linear address; false unless every byte was read.
using ReadLinear = std::function<bool(uint64_t linear, std::span<uint8_t> out)>;

struct Emulated {
    Kind kind;
    CpuState state;                  // rip past the instruction, registers and flags updated
    bool inject_breakpoint = false;  // deliver #BP (vector 3) before re-entering
};

/// The instruction at state.rip (code holds its bytes: up to 15, fewer near unreadable memory)
/// emulated, or nullopt when the table does not handle it in this form, mode or privilege.
/// read_data serves memory operands (popcnt's, at CPL 0 only).
std::optional<Emulated> emulate(CpuState const& state, std::span<uint8_t const> code,
                                Trigger trigger, ReadLinear const& read_data);

/// The kind of gap the bytes are, ignoring the conditions emulate() checks (for hints).
std::optional<Kind> classify(std::span<uint8_t const> code, CodeMode mode);

/// One line telling the user what avoids an emulation failure on these bytes.
std::string emulation_failure_hint(std::span<uint8_t const> code, CodeMode mode,
                                   bool fallback_active);

// --- The SYSCALL completion (facts §4) ----------------------------------------------------
// On PVM a user-mode SYSCALL jumps to LSTAR but stays at CPL 3 (rcx, r11 and rsp are right), so
// fetching the kernel's entry code raises #PF. The clac that opens the guest's #PF handler exits
// to us; if the exception frame shows that #PF hit LSTAR from user mode, we finish the SYSCALL
// as the CPU should have: CS from STAR[47:32] (CPL 0), SS = that + 8, RSP = the user rsp in the
// frame, RFLAGS = R11 & ~SFMASK, RIP = LSTAR. Relies on SMAP (without it there is no clac).

inline constexpr uint32_t kMsrStar = 0xc0000081;
inline constexpr uint32_t kMsrLstar = 0xc0000082;
inline constexpr uint32_t kMsrSfmask = 0xc0000084;

/// The handler address of a 64-bit IDT gate (16 bytes), if it is a present interrupt or trap
/// gate (Intel SDM vol. 3A §6.14.1).
std::optional<uint64_t> idt_gate_handler(std::span<uint8_t const> gate);

/// True when rip is where a handler's first real instruction is: the handler address itself,
/// or 4 bytes in when the handler starts with endbr64 (F3 0F 1E FA; kernels built with IBT).
bool at_handler_entry(uint64_t rip, uint64_t handler, std::span<uint8_t const> handler_bytes);

struct SyscallEvidence {
    CodeMode mode;
    uint8_t cpl;
    uint64_t rip;                          // where the vCPU stands: on a clac
    uint64_t pf_handler;                   // IDT vector 14's handler
    std::array<uint8_t, 4> handler_bytes;  // the first bytes at pf_handler
    /// The #PF frame at rsp: error code, rip, cs, rflags, rsp, ss.
    std::array<uint64_t, 6> frame;
    uint64_t r11;
    uint64_t lstar, star, sfmask;
};

struct SyscallCompletion {
    uint64_t rip, rsp, rflags;
    uint16_t cs, ss;
};

/// The state a completed SYSCALL leaves, or nullopt when this is not the PVM SYSCALL gap.
std::optional<SyscallCompletion> complete_syscall(SyscallEvidence const& evidence);

// --- Reading guest memory by linear address ----------------------------------------------

/// Linear -> guest-physical for the page holding an address; nullopt when not mapped.
using Translate = std::function<std::optional<uint64_t>(uint64_t linear)>;
/// Reads guest RAM at a physical address; false when any byte is not RAM.
using ReadPhysical = std::function<bool(uint64_t physical, std::span<uint8_t> out)>;

/// Reads out.size() bytes at linear, page by page (an instruction or operand may cross into a
/// page mapped elsewhere). Returns how many leading bytes were read: fewer at the first page
/// that does not translate or is not RAM.
size_t read_linear(uint64_t linear, std::span<uint8_t> out, Translate const& translate,
                   ReadPhysical const& read_physical);

// --- The glue -------------------------------------------------------------------------------

/// How often each kind was handled; logs each kind's first occurrence at debug.
class Stats {
public:
    void count(Kind kind, uint32_t vcpu, uint64_t rip);
    uint64_t total(Kind kind) const;
    /// "int3 1, clac 51234, ..." for the log when the machine ends.
    std::string summary() const;

private:
    std::array<std::atomic<uint64_t>, kKindCount> m_counts{};
};

/// Shared by all vCPU threads of one machine (its state is the atomic Stats).
class PvmQuirks {
public:
    explicit PvmQuirks(ReadPhysical read_physical) : m_read_physical(std::move(read_physical)) {}

    /// After KVM_EXIT_INTERNAL_ERROR with suberror KVM_INTERNAL_ERROR_EMULATION: true when the
    /// instruction was emulated (or a SYSCALL completed) and the vCPU may re-enter.
    bool recover_emulation_failure(Vcpu& vcpu);
    /// On the periodic kick (KVM_RUN interrupted): completes a hypercall the vCPU spins on.
    void on_kick(Vcpu& vcpu);

    Stats const& stats() const { return m_stats; }

private:
    bool handle(Vcpu& vcpu, Trigger trigger);
    bool try_complete_syscall(Vcpu& vcpu, kvm_regs const& regs, kvm_sregs sregs,
                              CpuState const& state, Translate const& translate);

    ReadPhysical m_read_physical;
    Stats m_stats;
};

/// The CpuState of a vCPU from its registers.
CpuState cpu_state(kvm_regs const& regs, kvm_sregs const& sregs);
/// The linear address of the instruction at rip.
uint64_t code_address(CpuState const& state);

}  // namespace vmm::kvm::pvm
