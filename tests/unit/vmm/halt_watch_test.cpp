// SPDX-License-Identifier: Apache-2.0
// Halted-for-good detection: the pure decision over per-vCPU samples and the round logic.
#include <catch2/catch.hpp>

#include <linux/kvm.h>

#include <vector>

#include "vmm/halt_watch.h"

using namespace vmm;

namespace {
constexpr uint64_t kIf = 1ull << 9;
VcpuSample halted(uint64_t rip = 0x1000) { return {KVM_MP_STATE_HALTED, 0x2, rip}; }
VcpuSample idle(uint64_t rip = 0x1000) { return {KVM_MP_STATE_HALTED, 0x2 | kIf, rip}; }
VcpuSample running() { return {KVM_MP_STATE_RUNNABLE, 0x2 | kIf, 0x2000}; }
VcpuSample never_started() { return {KVM_MP_STATE_UNINITIALIZED, 0x2, 0xfff0}; }

bool decide(std::vector<std::optional<VcpuSample>> const& samples) {
    return halted_for_good(samples);
}
}  // namespace

TEST_CASE("Halted for good: every vCPU in HLT with IF clear, or never started", "[halt-watch]") {
    CHECK(decide({halted()}));
    CHECK_FALSE(decide({idle()}));  // HLT with interrupts on: waiting for the next tick
    CHECK_FALSE(decide({running()}));
    CHECK(decide({halted(), never_started(), never_started()}));
    CHECK(decide({halted(), VcpuSample{KVM_MP_STATE_INIT_RECEIVED, 0x2, 0}}));
    CHECK(decide({halted(0x1000), halted(0x2000)}));
    CHECK_FALSE(decide({halted(), running()}));
    CHECK_FALSE(decide({halted(), idle()}));
    CHECK_FALSE(decide({halted(), VcpuSample{KVM_MP_STATE_SIPI_RECEIVED, 0x2, 0}}));
    CHECK_FALSE(decide({never_started()}));         // nothing halted: not a poweroff
    CHECK_FALSE(decide({halted(), std::nullopt}));  // a vCPU that did not report
    CHECK_FALSE(decide({}));
}

TEST_CASE("HaltWatch needs two complete halted rounds in the same places", "[halt-watch]") {
    HaltWatch watch(2);
    CHECK_FALSE(watch.end_round());  // nothing begun yet

    auto round = watch.begin_round();
    CHECK(round != 0);
    watch.report(0, round, halted());
    watch.report(1, round, never_started());
    CHECK_FALSE(watch.end_round());  // first halted round

    round = watch.begin_round();
    watch.report(0, round, halted());
    watch.report(1, round, never_started());
    CHECK(watch.end_round());
}

TEST_CASE("HaltWatch starts over when a vCPU moved, ran or did not report", "[halt-watch]") {
    HaltWatch watch(2);
    auto full_round = [&](VcpuSample a, VcpuSample b) {
        auto round = watch.begin_round();
        watch.report(0, round, a);
        watch.report(1, round, b);
        return watch.end_round();
    };
    CHECK_FALSE(full_round(halted(0x1000), halted(0x3000)));
    CHECK_FALSE(full_round(halted(0x1004), halted(0x3000)));  // vCPU 0 ran in between
    CHECK(full_round(halted(0x1004), halted(0x3000)));

    CHECK_FALSE(full_round(running(), halted()));
    CHECK_FALSE(full_round(halted(), halted()));
    auto round = watch.begin_round();
    watch.report(0, round, halted());  // vCPU 1 missed this kick
    CHECK_FALSE(watch.end_round());
    CHECK_FALSE(full_round(halted(), halted()));
    CHECK(full_round(halted(), halted()));
}

TEST_CASE("HaltWatch ignores stale rounds and unknown vCPUs", "[halt-watch]") {
    HaltWatch watch(1);
    auto const old = watch.begin_round();
    CHECK_FALSE(watch.end_round());
    auto round = watch.begin_round();
    watch.report(0, old, halted());  // a late report from the round before
    watch.report(5, round, halted());
    watch.report(0, 0, halted());
    CHECK_FALSE(watch.end_round());
    round = watch.begin_round();
    watch.report(0, round, halted());
    CHECK_FALSE(watch.end_round());  // the round before was incomplete
}
