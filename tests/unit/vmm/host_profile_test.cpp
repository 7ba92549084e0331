// SPDX-License-Identifier: Apache-2.0
// Host profile detection from synthetic evidence, the /proc parsers and the pvm profile's
// guest command line additions.
#include <catch2/catch.hpp>

#include <string>

#include "vmm/host_profile.h"

using namespace vmm;

namespace {

// Two processors, shaped like this PVM host's /proc/cpuinfo (flags shortened).
std::string cpuinfo(std::string const& flags, std::string const& mhz = "2096.008") {
    return "processor\t: 0\nvendor_id\t: AuthenticAMD\nmodel name\t: AMD EPYC\ncpu MHz\t\t: " +
           mhz + "\ncache size\t: 512 KB\nflags\t\t: " + flags +
           "\nbogomips\t: 4192.01\n\nprocessor\t: 1\nflags\t\t: fpu svm vmx aperfmperf\n\n";
}
constexpr char const* kPvmFlags =
    "fpu vme de pse tsc msr constant_tsc rep_good nopl tsc_reliable nonstop_tsc cpuid "
    "tsc_known_freq pni popcnt xsave avx rdrand hypervisor lahf_lm";

std::string added(std::string const& text, std::optional<uint32_t> khz = 2096008) {
    auto cmdline = boot::Cmdline::parse(text);
    REQUIRE(cmdline);
    auto adapted = add_pvm_cmdline_options(*cmdline, khz);
    REQUIRE(adapted);
    return adapted->str();
}

}  // namespace

TEST_CASE("auto picks pvm only for kvm_pvm on a CPU without vmx/svm", "[host-profile]") {
    auto pvm = decide_host_profile(HostProfile::Auto, {.kvm_pvm_module = true});
    CHECK(pvm.profile == HostProfile::Pvm);
    CHECK_THAT(pvm.reason, Catch::Contains("kvm_pvm"));
    auto both = decide_host_profile(HostProfile::Auto,
                                    {.kvm_pvm_module = true, .cpu_virtualization = true});
    CHECK(both.profile == HostProfile::Native);
    CHECK_THAT(both.reason, Catch::Contains("vmx/svm"));
    auto hardware = decide_host_profile(HostProfile::Auto, {.cpu_virtualization = true});
    CHECK(hardware.profile == HostProfile::Native);
    CHECK(decide_host_profile(HostProfile::Auto, {}).profile == HostProfile::Native);
    // An explicit request wins over the evidence.
    CHECK(decide_host_profile(HostProfile::Pvm, {.cpu_virtualization = true}).profile ==
          HostProfile::Pvm);
    CHECK(decide_host_profile(HostProfile::Native, {.kvm_pvm_module = true}).profile ==
          HostProfile::Native);
    CHECK(host_profile_name(HostProfile::Pvm) == "pvm");
}

TEST_CASE("The /proc parsers read the first processor and the module list", "[host-profile]") {
    auto const text = cpuinfo(kPvmFlags);
    CHECK(cpuinfo_has_flag(text, "hypervisor"));
    CHECK(cpuinfo_has_flag(text, "fpu"));
    CHECK(cpuinfo_has_flag(text, "lahf_lm"));
    CHECK_FALSE(cpuinfo_has_flag(text, "svm"));  // only processor 1 lists it
    CHECK_FALSE(cpuinfo_has_flag(text, "tsc_known"));
    CHECK_FALSE(cpuinfo_has_flag("", "fpu"));

    CHECK(cpuinfo_tsc_khz(text) == 2096008u);
    CHECK(cpuinfo_tsc_khz(cpuinfo(kPvmFlags, "2096")) == 2096000u);
    CHECK(cpuinfo_tsc_khz(cpuinfo(kPvmFlags, "2096.5")) == 2096500u);
    CHECK(cpuinfo_tsc_khz(cpuinfo(kPvmFlags, "2096.0009")) == 2096000u);
    CHECK_FALSE(cpuinfo_tsc_khz(cpuinfo(kPvmFlags, "fast")));
    CHECK_FALSE(cpuinfo_tsc_khz(cpuinfo(kPvmFlags, "")));
    CHECK_FALSE(cpuinfo_tsc_khz(cpuinfo(kPvmFlags, "-5.0")));
    CHECK_FALSE(cpuinfo_tsc_khz(cpuinfo(kPvmFlags, "0.000")));
    CHECK_FALSE(cpuinfo_tsc_khz(cpuinfo(kPvmFlags, "99999999999999999999")));
    // Measured frequencies are not the TSC's; an unknown TSC frequency is not guessed.
    CHECK_FALSE(cpuinfo_tsc_khz(cpuinfo(std::string(kPvmFlags) + " aperfmperf")));
    CHECK_FALSE(cpuinfo_tsc_khz(cpuinfo("fpu tsc constant_tsc hypervisor")));

    std::string const modules = "kvm_pvm 262144 0 - Live 0x0\nkvm 1146880 1 kvm_pvm, Live 0x0\n";
    CHECK(proc_modules_lists(modules, "kvm_pvm"));
    CHECK(proc_modules_lists(modules, "kvm"));
    CHECK_FALSE(proc_modules_lists(modules, "kvm_p"));
    CHECK_FALSE(proc_modules_lists(modules, "kvm_amd"));
    CHECK_FALSE(proc_modules_lists("", "kvm_pvm"));
}

TEST_CASE("The pvm profile adds its kernel options", "[host-profile]") {
    CHECK(added("console=ttyS0 reboot=k panic=1 pci=off") ==
          "console=ttyS0 reboot=k panic=1 pci=off noxsave tsc_early_khz=2096008 "
          "clearcpuid=hypervisor pty.legacy_count=0");
    CHECK(added("") == "noxsave tsc_early_khz=2096008 clearcpuid=hypervisor pty.legacy_count=0");
    CHECK(added("  quiet  ") ==
          "quiet noxsave tsc_early_khz=2096008 clearcpuid=hypervisor pty.legacy_count=0");
}

TEST_CASE("Without a known TSC frequency the hypervisor bit stays", "[host-profile]") {
    CHECK(added("console=ttyS0", std::nullopt) == "console=ttyS0 noxsave pty.legacy_count=0");
    // The user's own tsc_early_khz is as good as ours.
    CHECK(added("tsc_early_khz=3000000", std::nullopt) ==
          "tsc_early_khz=3000000 noxsave clearcpuid=hypervisor pty.legacy_count=0");
}

TEST_CASE("Options the user gave are not added again", "[host-profile]") {
    CHECK(added("noxsave tsc_early_khz=1000 clearcpuid=avx512f pty.legacy_count=4") ==
          "noxsave tsc_early_khz=1000 clearcpuid=avx512f pty.legacy_count=4");
    CHECK(added("pty.legacy-count=8 clearcpuid=\"hypervisor\"") ==
          "pty.legacy-count=8 clearcpuid=\"hypervisor\" noxsave tsc_early_khz=2096008");
    // A name inside a quoted value is not an option.
    CHECK(added("wisp.cmd=\"echo noxsave\"", std::nullopt) ==
          "wisp.cmd=\"echo noxsave\" noxsave pty.legacy_count=0");
    // Applying the profile twice changes nothing more.
    auto const once = added("console=ttyS0");
    CHECK(added(once) == once);
}

TEST_CASE("The additions go before init's arguments", "[host-profile]") {
    CHECK(added("console=ttyS0 -- single noxsave", std::nullopt) ==
          "console=ttyS0 noxsave pty.legacy_count=0 -- single noxsave");
    CHECK(added("-- init", std::nullopt) == "noxsave pty.legacy_count=0 -- init");
    CHECK(added("a --x b", std::nullopt) == "a --x b noxsave pty.legacy_count=0");
}

TEST_CASE("Additions that do not fit are a usage error", "[host-profile]") {
    auto cmdline = boot::Cmdline::parse(std::string(2040, 'x'));
    REQUIRE(cmdline);
    auto adapted = add_pvm_cmdline_options(*cmdline, 2096008);
    REQUIRE_FALSE(adapted);
    CHECK(adapted.error().kind() == ErrorKind::Usage);
    CHECK_THAT(adapted.error().message(), Catch::Contains("--host-profile native"));
}

TEST_CASE("The native profile leaves the command line alone", "[host-profile]") {
    MachineConfig config{.cmdline = "console=ttyS0 quiet", .host_profile = HostProfile::Native};
    auto cmdline = guest_cmdline(config);
    REQUIRE(cmdline);
    CHECK(cmdline->str() == "console=ttyS0 quiet");
    config.cmdline = std::string("bad\x01");
    CHECK_FALSE(guest_cmdline(config));
}
