// SPDX-License-Identifier: Apache-2.0
// Host profile detection and the pvm profile's guest command line.
#include "vmm/host_profile.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <vector>

#include "vmm/base/log.h"
#include "vmm/base/unique_fd.h"

namespace vmm {

namespace {

std::string_view trim(std::string_view text) {
    auto const first = text.find_first_not_of(" \t");
    if (first == std::string_view::npos) return {};
    auto const last = text.find_last_not_of(" \t");
    return text.substr(first, last - first + 1);
}

/// The value of "key : value" in the first processor's block of /proc/cpuinfo text.
std::optional<std::string_view> cpuinfo_field(std::string_view cpuinfo, std::string_view key) {
    std::string_view block = cpuinfo.substr(0, cpuinfo.find("\n\n"));
    while (!block.empty()) {
        auto const end = block.find('\n');
        std::string_view const line = block.substr(0, end);
        block = end == std::string_view::npos ? std::string_view{} : block.substr(end + 1);
        auto const colon = line.find(':');
        if (colon != std::string_view::npos && trim(line.substr(0, colon)) == key)
            return trim(line.substr(colon + 1));
    }
    return std::nullopt;
}

bool has_word(std::string_view text, std::string_view word) {
    while (!text.empty()) {
        auto const start = text.find_first_not_of(" \t");
        if (start == std::string_view::npos) return false;
        text = text.substr(start);
        auto const end = text.find_first_of(" \t");
        if (text.substr(0, end) == word) return true;
        if (end == std::string_view::npos) return false;
        text = text.substr(end);
    }
    return false;
}

/// Up to max_size bytes of a /proc or /sys file (their stat size is 0); empty if unreadable.
std::string read_kernel_text(char const* path, size_t max_size) {
    UniqueFd fd(::open(path, O_RDONLY | O_CLOEXEC));
    if (!fd) return {};
    std::string text(max_size, '\0');
    size_t done = 0;
    while (done < max_size) {
        ssize_t const n = ::read(fd.get(), text.data() + done, max_size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        done += static_cast<size_t>(n);
    }
    text.resize(done);
    return text;
}

bool path_exists(char const* path) { return ::access(path, F_OK) == 0; }

HostEvidence read_host_evidence() {
    HostEvidence evidence;
    evidence.kvm_pvm_module =
        path_exists("/sys/module/kvm_pvm") ||
        proc_modules_lists(read_kernel_text("/proc/modules", 1 << 20), "kvm_pvm");
    // The first processor's block is all we read; it is well under 64 KiB.
    std::string const cpuinfo = read_kernel_text("/proc/cpuinfo", 64 << 10);
    evidence.cpu_virtualization =
        cpuinfo_has_flag(cpuinfo, "vmx") || cpuinfo_has_flag(cpuinfo, "svm");
    // With a cpufreq driver "cpu MHz" is the driver's current frequency, not the TSC's.
    if (!path_exists("/sys/devices/system/cpu/cpufreq/policy0"))
        evidence.tsc_khz = cpuinfo_tsc_khz(cpuinfo);
    return evidence;
}

struct Parameter {
    std::string_view text;
    size_t offset;
};

/// The command line split as Linux's next_arg() does: at spaces outside double quotes.
std::vector<Parameter> split_parameters(std::string_view text) {
    std::vector<Parameter> parameters;
    size_t i = 0;
    while (i < text.size()) {
        if (text[i] == ' ') {
            ++i;
            continue;
        }
        size_t const start = i;
        bool quoted = false;
        for (; i < text.size() && (quoted || text[i] != ' '); ++i)
            if (text[i] == '"') quoted = !quoted;
        parameters.push_back({text.substr(start, i - start), start});
    }
    return parameters;
}

/// A parameter's name, unquoted, with '-' as '_' (Linux's parameq treats them alike).
std::string parameter_name(std::string_view parameter) {
    std::string name;
    for (char c : parameter.substr(0, parameter.find('='))) {
        if (c == '"') continue;
        name += c == '-' ? '_' : c;
    }
    return name;
}

}  // namespace

std::string_view host_profile_name(HostProfile profile) {
    switch (profile) {
        case HostProfile::Auto: return "auto";
        case HostProfile::Pvm: return "pvm";
        case HostProfile::Native: return "native";
    }
    return "?";
}

HostProfileDecision decide_host_profile(HostProfile requested, HostEvidence const& evidence) {
    switch (requested) {
        case HostProfile::Pvm: return {HostProfile::Pvm, "requested with --host-profile pvm"};
        case HostProfile::Native:
            return {HostProfile::Native, "requested with --host-profile native"};
        case HostProfile::Auto: break;
    }
    if (!evidence.kvm_pvm_module)
        return {HostProfile::Native, "no kvm_pvm module: hardware-assisted KVM"};
    if (evidence.cpu_virtualization)
        return {HostProfile::Native,
                "kvm_pvm is loaded but the CPU has vmx/svm, so /dev/kvm is taken to be "
                "hardware-assisted KVM (--host-profile pvm forces the PVM adaptations)"};
    return {HostProfile::Pvm, "the host's KVM is kvm_pvm (PVM) and the CPU has no vmx/svm"};
}

bool cpuinfo_has_flag(std::string_view cpuinfo, std::string_view flag) {
    auto const flags = cpuinfo_field(cpuinfo, "flags");
    return flags && has_word(*flags, flag);
}

std::optional<uint32_t> cpuinfo_tsc_khz(std::string_view cpuinfo) {
    if (!cpuinfo_has_flag(cpuinfo, "tsc_known_freq") || cpuinfo_has_flag(cpuinfo, "aperfmperf"))
        return std::nullopt;
    auto const mhz = cpuinfo_field(cpuinfo, "cpu MHz");
    if (!mhz) return std::nullopt;
    // "2096.008": whole MHz, then up to three decimals (kHz).
    auto const dot = mhz->find('.');
    std::string_view const whole = mhz->substr(0, dot);
    std::string fraction(dot == std::string_view::npos ? "" : mhz->substr(dot + 1, 3));
    fraction.resize(3, '0');
    uint64_t megahertz = 0;
    uint64_t kilohertz = 0;
    auto [end, error] = std::from_chars(whole.data(), whole.data() + whole.size(), megahertz);
    if (error != std::errc{} || end != whole.data() + whole.size() || whole.empty())
        return std::nullopt;
    auto [fraction_end, fraction_error] =
        std::from_chars(fraction.data(), fraction.data() + fraction.size(), kilohertz);
    if (fraction_error != std::errc{} || fraction_end != fraction.data() + fraction.size())
        return std::nullopt;
    if (megahertz > 1'000'000) return std::nullopt;  // no TSC runs at a terahertz
    uint64_t const khz = megahertz * 1000 + kilohertz;
    if (khz == 0) return std::nullopt;
    return static_cast<uint32_t>(khz);
}

bool proc_modules_lists(std::string_view modules, std::string_view name) {
    while (!modules.empty()) {
        auto const end = modules.find('\n');
        std::string_view const line = modules.substr(0, end);
        if (line.substr(0, line.find(' ')) == name) return true;
        if (end == std::string_view::npos) break;
        modules = modules.substr(end + 1);
    }
    return false;
}

HostEvidence const& host_evidence() {
    static HostEvidence const evidence = read_host_evidence();
    return evidence;
}

HostProfileDecision resolve_host_profile(HostProfile requested) {
    // An explicit choice needs no evidence (and the native profile reads none).
    return decide_host_profile(requested,
                               requested == HostProfile::Auto ? host_evidence() : HostEvidence{});
}

Result<boot::Cmdline> add_pvm_cmdline_options(boot::Cmdline const& cmdline,
                                              std::optional<uint32_t> tsc_khz) {
    std::string_view const text = cmdline.str();
    auto const parameters = split_parameters(text);
    // Options after a bare "--" are init's (Linux's parse_args stops there).
    size_t kernel_end = text.size();
    std::vector<std::string> names;
    for (auto const& parameter : parameters) {
        std::string unquoted(parameter.text);
        std::erase(unquoted, '"');
        if (unquoted == "--") {
            kernel_end = parameter.offset;
            break;
        }
        names.push_back(parameter_name(parameter.text));
    }
    auto given = [&](std::string_view name) {
        return std::ranges::find(names, name) != names.end();
    };

    std::vector<std::string> additions;
    if (!given("noxsave")) additions.emplace_back("noxsave");
    bool tsc_known = given("tsc_early_khz");
    if (!tsc_known && tsc_khz) {
        additions.push_back(fmt::format("tsc_early_khz={}", *tsc_khz));
        tsc_known = true;
    }
    if (tsc_known && !given("clearcpuid")) additions.emplace_back("clearcpuid=hypervisor");
    if (!given("pty.legacy_count")) additions.emplace_back("pty.legacy_count=0");
    if (additions.empty()) return cmdline;

    std::string joined;
    for (auto const& addition : additions) joined += (joined.empty() ? "" : " ") + addition;
    std::string_view const kernel_part = trim(text.substr(0, kernel_end));
    std::string_view const init_part = text.substr(kernel_end);
    std::string result(kernel_part);
    if (!result.empty()) result += ' ';
    result += joined;
    if (!init_part.empty()) (result += ' ') += init_part;
    auto adapted = boot::Cmdline::parse(result, cmdline.capacity());
    if (!adapted)
        return fail(ErrorKind::Usage,
                    fmt::format("the kernel command line with the pvm host profile's additions "
                                "({}) is longer than {} bytes: shorten --cmdline, or use "
                                "--host-profile native",
                                joined, cmdline.capacity() - 1));
    return adapted;
}

Result<boot::Cmdline> guest_cmdline(MachineConfig const& config) {
    auto cmdline = TRY(boot::Cmdline::parse(config.cmdline));
    auto const decision = resolve_host_profile(config.host_profile);
    // One line, so that a refusal later in loading stays a two-line stderr.
    if (decision.profile != HostProfile::Pvm) {
        spdlog::info("host profile {}: {}", host_profile_name(decision.profile), decision.reason);
        return cmdline;
    }
    auto const tsc_khz = host_evidence().tsc_khz;
    auto adapted = TRY(add_pvm_cmdline_options(cmdline, tsc_khz));
    spdlog::info("host profile pvm: {}; guest command line: {}{}", decision.reason, adapted.str(),
                 tsc_khz ? "" : " (the host's TSC frequency is unknown: no tsc_early_khz)");
    return adapted;
}

}  // namespace vmm
