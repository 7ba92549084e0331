// SPDX-License-Identifier: Apache-2.0
// Command-line parsing.
#include "vmm/cli.h"

#include <arpa/inet.h>

#include <algorithm>
#include <array>
#include <charconv>
#include <optional>
#include <cstdio>
#include <ranges>
#include <span>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <fmt/format.h>

#include "vmm/base/log.h"
#include "vmm/base/size.h"
#include "vmm/exit_status.h"

namespace vmm {

Result<ConsoleConfig> parse_console(std::string const& text) {
    if (text == "stdio") return ConsoleConfig{ConsoleKind::Stdio, {}};
    if (text == "none") return ConsoleConfig{ConsoleKind::None, {}};
    if (text == "virtio") return ConsoleConfig{ConsoleKind::Virtio, {}};
    if (text.starts_with("file:") && text.size() > 5)
        return ConsoleConfig{ConsoleKind::File, text.substr(5)};
    return fail(ErrorKind::Usage,
                fmt::format("--console '{}' is not valid: use stdio, virtio, none or file:PATH",
                            text));
}

Result<DiskConfig> parse_disk(std::string const& text) {
    constexpr char const* kForm = "use --disk PATH[,ro][,id=NAME][,engine=sync|io_uring]";
    std::vector<std::string_view> parts;
    for (auto part : std::views::split(std::string_view(text), ','))
        parts.emplace_back(part.begin(), part.end());
    DiskConfig disk;
    if (!parts.empty()) disk.path = std::string(parts.front());  // "" splits into no parts
    if (disk.path.empty())
        return fail(ErrorKind::Usage, fmt::format("--disk '{}' has no path: {}", text, kForm));
    for (std::string_view option : std::span(parts).subspan(1)) {
        if (option == "ro") {
            disk.read_only = true;
        } else if (option.starts_with("id=")) {
            disk.id = std::string(option.substr(3));
            if (disk.id.size() > DiskConfig::kIdBytes)
                return fail(ErrorKind::Usage,
                            fmt::format("--disk '{}': id '{}' is {} bytes; the limit is {}", text,
                                        disk.id, disk.id.size(), DiskConfig::kIdBytes));
        } else if (option == "engine=sync") {
            disk.engine = DiskEngine::Sync;
        } else if (option == "engine=io_uring") {
            disk.engine = DiskEngine::IoUring;
        } else if (option.starts_with("engine=")) {
            return fail(ErrorKind::Usage,
                        fmt::format("--disk '{}': unknown engine '{}': use engine=sync (the "
                                    "default) or engine=io_uring",
                                    text, option.substr(7)));
        } else {
            return fail(ErrorKind::Usage,
                        fmt::format("--disk '{}': unknown option '{}': {}", text, option, kForm));
        }
    }
    return disk;
}

namespace {

std::vector<std::string_view> split(std::string_view text, char separator) {
    std::vector<std::string_view> parts;
    for (auto part : std::views::split(text, separator)) parts.emplace_back(part.begin(), part.end());
    return parts;
}

template <typename T>
std::optional<T> parse_number(std::string_view text) {
    T value{};
    auto const [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (error != std::errc{} || end != text.data() + text.size() || text.empty()) return std::nullopt;
    return value;
}

std::optional<uint16_t> parse_port(std::string_view text) {
    auto port = parse_number<uint32_t>(text);
    if (!port || *port == 0 || *port > 65535) return std::nullopt;
    return static_cast<uint16_t>(*port);
}

bool valid_ipv4(std::string_view text) {
    in_addr address{};
    return inet_pton(AF_INET, std::string(text).c_str(), &address) == 1;
}

// "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT", QEMU's hostfwd= syntax; the short
// "tcp:HOSTPORT-:GUESTPORT" (no host address field) is taken too.
Result<HostForward> parse_hostfwd(std::string_view net, std::string_view value) {
    constexpr char const* kForm =
        "use hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (or udp:), e.g. "
        "hostfwd=tcp:127.0.0.1:2222-:22; the guest address, if given, is 10.0.2.15";
    auto bad = [&](std::string const& why) {
        return fail(ErrorKind::Usage,
                    fmt::format("--net '{}': hostfwd={}: {}: {}", net, value, why, kForm));
    };
    HostForward forward;
    auto const dash = value.find('-');
    if (dash == std::string_view::npos) return bad("no '-' between the host and the guest side");
    auto host = split(value.substr(0, dash), ':');
    auto const guest = split(value.substr(dash + 1), ':');
    if (host.size() == 2) host.insert(host.begin() + 1, std::string_view{});  // tcp:PORT
    if (host.size() != 3) return bad("the host side is not PROTOCOL:[ADDRESS]:PORT");
    if (guest.size() != 2) return bad("the guest side is not [ADDRESS]:PORT");
    if (host[0] == "tcp" || host[0].empty()) {
        forward.protocol = HostForward::Protocol::Tcp;
    } else if (host[0] == "udp") {
        forward.protocol = HostForward::Protocol::Udp;
    } else {
        return bad(fmt::format("protocol '{}' is neither tcp nor udp", host[0]));
    }
    if (!host[1].empty()) {
        if (!valid_ipv4(host[1]))
            return bad(fmt::format("host address '{}' is not an IPv4 address", host[1]));
        forward.host_address = std::string(host[1]);
    }
    auto host_port = parse_port(host[2]);
    if (!host_port) return bad(fmt::format("host port '{}' is not 1 to 65535", host[2]));
    forward.host_port = *host_port;
    if (!guest[0].empty() && guest[0] != "10.0.2.15")
        return bad(fmt::format("guest address '{}' is not the guest's, 10.0.2.15", guest[0]));
    auto guest_port = parse_port(guest[1]);
    if (!guest_port) return bad(fmt::format("guest port '{}' is not 1 to 65535", guest[1]));
    forward.guest_port = *guest_port;
    return forward;
}

bool valid_interface_name(std::string_view name) {
    // Linux's dev_valid_name(): up to IFNAMSIZ - 1 bytes, no '/', ':' or whitespace.
    if (name.empty() || name.size() > 15 || name == "." || name == "..") return false;
    return std::ranges::none_of(name, [](char c) {
        return c == '/' || c == ':' || c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
               c == '\v' || c == '\f';
    });
}

}  // namespace

Result<std::array<uint8_t, 6>> parse_mac(std::string_view text) {
    auto bad = [&](std::string const& why) {
        return fail(ErrorKind::Usage,
                    fmt::format("mac={} {}: give six two-digit hex bytes like 52:54:00:12:34:56 "
                                "with the first byte even (unicast)",
                                text, why));
    };
    auto const parts = split(text, ':');
    if (parts.size() != 6) return bad("is not six bytes separated by ':'");
    std::array<uint8_t, 6> mac{};
    for (size_t i = 0; i < 6; ++i) {
        uint8_t byte = 0;
        auto const [end, error] =
            std::from_chars(parts[i].data(), parts[i].data() + parts[i].size(), byte, 16);
        if (parts[i].size() != 2 || error != std::errc{} || end != parts[i].data() + 2)
            return bad(fmt::format("has '{}', not a two-digit hex byte", parts[i]));
        mac[i] = byte;
    }
    if (mac[0] & 1) return bad("is a multicast address (the first byte is odd)");
    if (std::ranges::all_of(mac, [](uint8_t b) { return b == 0; })) return bad("is all zeros");
    return mac;
}

Result<NetConfig> parse_net(std::string const& text) {
    constexpr char const* kForm =
        "use --net tap=NAME[,mac=XX:XX:XX:XX:XX:XX][,mtu=N] or --net "
        "user[,hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT][,mac=...]";
    auto const parts = split(text, ',');
    NetConfig net;
    if (!parts.empty() && parts.front() == "user") {
        net.kind = NetKind::User;
    } else if (!parts.empty() && parts.front().starts_with("tap=")) {
        net.kind = NetKind::Tap;
        net.tap = std::string(parts.front().substr(4));
        if (net.tap.empty())
            return fail(ErrorKind::Usage,
                        fmt::format("--net '{}' names no tap: give its name, tap=NAME", text));
        if (!valid_interface_name(net.tap))
            return fail(ErrorKind::Usage,
                        fmt::format("--net '{}': '{}' is not an interface name (1 to 15 "
                                    "characters, no '/', ':' or spaces)",
                                    text, net.tap));
    } else {
        return fail(ErrorKind::Usage,
                    fmt::format("--net '{}' must start with tap=NAME or user: {}", text, kForm));
    }
    for (std::string_view option : std::span(parts).subspan(1)) {
        auto const equals = option.find('=');
        std::string_view const key = option.substr(0, equals);
        std::string_view const value =
            equals == std::string_view::npos ? std::string_view{} : option.substr(equals + 1);
        if (equals != std::string_view::npos && key == "mac") {
            if (net.mac)
                return fail(ErrorKind::Usage, fmt::format("--net '{}': mac= given twice", text));
            auto mac = parse_mac(value);
            if (!mac)
                return fail(ErrorKind::Usage,
                            fmt::format("--net '{}': {}", text, mac.error().message()));
            net.mac = *mac;
        } else if (equals != std::string_view::npos && key == "mtu") {
            auto mtu = parse_number<uint32_t>(value);
            if (!mtu || *mtu < 68 || *mtu > 65535)
                return fail(ErrorKind::Usage,
                            fmt::format("--net '{}': mtu={} is not valid: give 68 to 65535 "
                                        "(1500 is Ethernet's)",
                                        text, value));
            net.mtu = static_cast<uint16_t>(*mtu);
        } else if (equals != std::string_view::npos && key == "hostfwd") {
            if (net.kind != NetKind::User)
                return fail(ErrorKind::Usage,
                            fmt::format("--net '{}': hostfwd= is for --net user only; a tap "
                                        "reaches the host's network directly",
                                        text));
            net.forwards.push_back(TRY(parse_hostfwd(text, value)));
        } else {
            return fail(ErrorKind::Usage,
                        fmt::format("--net '{}': unknown option '{}': {}", text, option, kForm));
        }
    }
    return net;
}

Result<HostProfile> parse_host_profile(std::string const& text) {
    if (text == "auto") return HostProfile::Auto;
    if (text == "pvm") return HostProfile::Pvm;
    if (text == "native") return HostProfile::Native;
    return fail(ErrorKind::Usage,
                fmt::format("--host-profile '{}' is not valid: use auto, pvm or native", text));
}

ParsedCommandLine parse_command_line(int argc, char const* const* argv) {
    CLI::App app{"wisp: a KVM microVM monitor", "wisp"};
    app.set_version_flag("--version", std::string("wisp ") + WISP_VERSION);
    app.require_subcommand(1);
    app.footer(std::string(exit_status_table()));

    RunCommand command;
    std::string memory = "128M";
    std::string console = "stdio";
    std::string log_level = "info";
    std::string cmdline = MachineConfig::kDefaultCmdline;
    std::string initrd;
    std::string host_profile = "auto";
    std::vector<std::string> disks;
    std::vector<std::string> nets;

    CLI::App* run = app.add_subcommand("run", "Boot a kernel in a new microVM");
    run->add_option("--kernel", command.config.kernel,
                    "ELF kernel with a PVH entry note (a vmlinux built with CONFIG_PVH=y)")
        ->required();
    run->add_option("--initrd", initrd, "Initial ramdisk, given to the kernel as module 0");
    CLI::Option* cmdline_option =
        run->add_option("--cmdline", cmdline,
                        fmt::format("Kernel command line (with --console virtio: \"{}\")",
                                    MachineConfig::kDefaultVirtioCmdline))
            ->capture_default_str();
    run->add_option("--cpus", command.config.vcpus,
                    fmt::format("Number of vCPUs, 1 to {}", MachineConfig::kMaxVcpus))
        ->capture_default_str();
    run->add_option("--memory", memory, "Guest RAM: 128M, 2G, ...; a bare number is MiB")
        ->capture_default_str();
    run->add_option("--console", console,
                    "Serial console (COM1): stdio, file:PATH or none; or virtio: a "
                    "virtio-console (hvc0) on stdio, the serial port's output dropped. On stdio, "
                    "Ctrl-A x ends the VM and Ctrl-A Ctrl-A sends Ctrl-A")
        ->capture_default_str();
    run->add_flag("--boot-timer", command.config.boot_timer,
                  "Log the time from wisp's start to the guest writing 123 to MMIO 0xd0000000");
    run->add_option("--disk", disks,
                    "A virtio-blk disk backed by PATH (a file or block device); repeat for more "
                    "(vda, vdb, ... in order). ,ro: read-only; ,id=NAME: the serial the guest "
                    "reads (up to 20 bytes); ,engine=sync (I/O on the event-loop thread, the "
                    "default) or ,engine=io_uring (requests kept in flight on an io_uring)")
        ->type_name("PATH[,ro][,id=NAME][,engine=sync|io_uring]")
        ->allow_extra_args(false);
    run->add_option("--net", nets,
                    "A virtio-net device (eth0, eth1, ... in order); repeat for more. "
                    "tap=NAME: on the host's tap NAME (an existing one this user may use, or a "
                    "new one with CAP_NET_ADMIN); user: user-mode networking (10.0.2.0/24, "
                    "no privileges), ,hostfwd=tcp:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT "
                    "(or udp:) forwards a host port to the guest. ,mac=XX:XX:XX:XX:XX:XX (default: "
                    "derived from --id and the device's index); ,mtu=N (68 to 65535)")
        ->type_name("tap=NAME|user[,...]")
        ->allow_extra_args(false);
    run->add_option("--id", command.config.id,
                    "The VM's name; network devices without mac= derive their MAC from it")
        ->capture_default_str();
    run->add_flag("--rng", command.config.rng,
                  "Give the guest a virtio-rng device (entropy from the host's getrandom)");
    run->add_option("--kvm-device", command.config.kvm_device, "The KVM device node")
        ->capture_default_str();
    run->add_option("--host-profile", host_profile,
                    "auto, pvm or native. pvm adapts the guest to a PVM host's KVM (kernel "
                    "options, an emulation fallback); auto picks it when the host is PVM")
        ->capture_default_str();
    run->add_option("--log-level", log_level,
                    "trace, debug, info, warn, error or off (Firecracker's names work too)")
        ->capture_default_str();
    run->footer(std::string(exit_status_table()));

    auto usage_error = [&](std::string const& message) {
        std::fprintf(stderr, "wisp: %s\nRun 'wisp run --help' for the options.\n",
                     message.c_str());
        return exit_status::kUsage;
    };
    if (argc > 1 && argv[1][0] != '-' && std::string_view(argv[1]) != "run")
        return usage_error(fmt::format(
            "unknown command '{}': the commands are 'wisp run' and 'wisp serve'", argv[1]));
    try {
        app.parse(argc, argv);
    } catch (CLI::CallForHelp const& e) {
        return app.exit(e);
    } catch (CLI::CallForAllHelp const& e) {
        return app.exit(e);
    } catch (CLI::CallForVersion const& e) {
        return app.exit(e);
    } catch (CLI::ParseError const& e) {
        return usage_error(e.what());
    }

    auto size = parse_size(memory);
    if (!size) return usage_error(fmt::format("--memory: {}", size.error().message()));
    command.config.memory = *size;
    auto console_config = parse_console(console);
    if (!console_config) return usage_error(console_config.error().message());
    command.config.console = *console_config;
    auto level = parse_log_level(log_level);
    if (!level)
        return usage_error(fmt::format("--log-level '{}' is not one of trace, debug, info, "
                                       "warn, error, off",
                                       log_level));
    command.log_level = *level;
    auto profile = parse_host_profile(host_profile);
    if (!profile) return usage_error(profile.error().message());
    command.config.host_profile = *profile;
    for (std::string const& text : disks) {
        auto disk = parse_disk(text);
        if (!disk) return usage_error(disk.error().message());
        command.config.disks.push_back(std::move(*disk));
    }
    if (command.config.id.empty()) return usage_error("--id must not be empty: e.g. --id vm1");
    for (std::string const& text : nets) {
        auto net = parse_net(text);
        if (!net) return usage_error(net.error().message());
        command.config.nets.push_back(std::move(*net));
    }
    // Without --cmdline the default follows the console: console=hvc0 for virtio.
    command.config.cmdline = cmdline_option->count() > 0
                                 ? cmdline
                                 : MachineConfig::default_cmdline(command.config.console.kind);
    if (!initrd.empty()) command.config.initrd = initrd;
    return command;
}

}  // namespace vmm
