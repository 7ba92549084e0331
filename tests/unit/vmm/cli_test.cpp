// SPDX-License-Identifier: Apache-2.0
// Command line -> MachineConfig, and the usage exit status for every kind of bad input.
#include <catch2/catch.hpp>

#include <initializer_list>
#include <utility>
#include <string>
#include <variant>
#include <vector>

#include "vmm/cli.h"
#include "vmm/exit_status.h"

namespace {

using namespace vmm;

ParsedCommandLine parse(std::initializer_list<char const*> args) {
    std::vector<char const*> argv{"wisp"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back(nullptr);  // as the real argv
    return parse_command_line(static_cast<int>(argv.size() - 1), argv.data());
}

int status_of(ParsedCommandLine const& parsed) {
    REQUIRE(std::holds_alternative<int>(parsed));
    return std::get<int>(parsed);
}

}  // namespace

TEST_CASE("A full run command line fills MachineConfig", "[cli]") {
    auto parsed = parse({"run", "--kernel", "k", "--initrd", "i", "--cmdline", "a b", "--cpus",
                         "4", "--memory", "2G", "--console", "file:/tmp/x", "--boot-timer",
                         "--log-level", "Debug"});
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    auto const& command = std::get<RunCommand>(parsed);
    auto const& config = command.config;
    CHECK(config.kernel == "k");
    REQUIRE(config.initrd.has_value());
    CHECK(*config.initrd == "i");
    CHECK(config.cmdline == "a b");
    CHECK(config.vcpus == 4);
    CHECK(config.memory == 2_GiB);
    CHECK(config.console.kind == ConsoleKind::File);
    CHECK(config.console.path == "/tmp/x");
    CHECK(config.boot_timer);
    CHECK(command.log_level == spdlog::level::debug);
}

TEST_CASE("A minimal run command line gets the documented defaults", "[cli]") {
    auto parsed = parse({"run", "--kernel", "vmlinux"});
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    auto const& command = std::get<RunCommand>(parsed);
    auto const& config = command.config;
    CHECK(config.kernel == "vmlinux");
    CHECK_FALSE(config.initrd.has_value());
    CHECK(config.cmdline == MachineConfig::kDefaultCmdline);
    CHECK(config.cmdline == "console=ttyS0 reboot=k panic=1 pci=off");
    CHECK(config.vcpus == 1);
    CHECK(config.memory == 128_MiB);
    CHECK(config.console.kind == ConsoleKind::Stdio);
    CHECK(config.console.path.empty());
    CHECK_FALSE(config.boot_timer);
    CHECK(command.log_level == spdlog::level::info);
}

TEST_CASE("Option values are accepted in --name=value form and as bare MiB", "[cli]") {
    auto parsed = parse({"run", "--kernel=k", "--memory=512", "--console=none",
                         "--log-level=warning", "--cmdline", ""});
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    auto const& command = std::get<RunCommand>(parsed);
    CHECK(command.config.kernel == "k");
    CHECK(command.config.memory == 512_MiB);
    CHECK(command.config.console.kind == ConsoleKind::None);
    CHECK(command.log_level == spdlog::level::warn);
    CHECK(command.config.cmdline.empty());  // an explicitly empty cmdline is kept
}

TEST_CASE("Bad values and bad options end with the usage status", "[cli]") {
    CHECK(status_of(parse({"run", "--kernel", "k", "--memory", "12X"})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--memory", ""})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--memory", "-1"})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--memory", "99999999999T"})) ==
          exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--console", "tty"})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--console", "file:"})) ==
          exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--log-level", "loud"})) ==
          exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--bogus"})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--cpus", "four"})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--cpus", "2.5"})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--cpus"})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel"})) == exit_status::kUsage);
}

TEST_CASE("A missing kernel, subcommand or unknown subcommand is a usage error", "[cli]") {
    CHECK(status_of(parse({"run"})) == exit_status::kUsage);
    CHECK(status_of(parse({"run", "--initrd", "i"})) == exit_status::kUsage);
    CHECK(status_of(parse({})) == exit_status::kUsage);
    CHECK(status_of(parse({"boot", "--kernel", "k"})) == exit_status::kUsage);
    CHECK(status_of(parse({"--kernel", "k"})) == exit_status::kUsage);
}

TEST_CASE("Help and version end with status 0", "[cli]") {
    CHECK(status_of(parse({"--help"})) == 0);
    CHECK(status_of(parse({"run", "--help"})) == 0);
    CHECK(status_of(parse({"run", "--kernel", "k", "--help"})) == 0);
    CHECK(status_of(parse({"--version"})) == 0);
}

TEST_CASE("parse_console accepts stdio, none and file:PATH", "[cli]") {
    auto stdio = parse_console("stdio");
    REQUIRE(stdio);
    CHECK(stdio->kind == ConsoleKind::Stdio);
    auto none = parse_console("none");
    REQUIRE(none);
    CHECK(none->kind == ConsoleKind::None);
    auto file = parse_console("file:/tmp/console log");
    REQUIRE(file);
    CHECK(file->kind == ConsoleKind::File);
    CHECK(file->path == "/tmp/console log");
    auto nested = parse_console("file:file:x");
    REQUIRE(nested);
    CHECK(nested->path == "file:x");
}

TEST_CASE("The --console virtio option asks for a virtio console and the hvc0 default command line",
          "[cli][console]") {
    auto virtio = parse_console("virtio");
    REQUIRE(virtio);
    CHECK(virtio->kind == ConsoleKind::Virtio);
    CHECK(console_on_stdio(ConsoleKind::Virtio));
    CHECK(console_on_stdio(ConsoleKind::Stdio));
    CHECK_FALSE(console_on_stdio(ConsoleKind::File));
    CHECK_FALSE(console_on_stdio(ConsoleKind::None));

    auto parsed = parse({"run", "--kernel", "k", "--console", "virtio"});
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    auto const& config = std::get<RunCommand>(parsed).config;
    CHECK(config.console.kind == ConsoleKind::Virtio);
    CHECK(config.cmdline == MachineConfig::kDefaultVirtioCmdline);
    CHECK(config.cmdline == "console=hvc0 reboot=k panic=1 pci=off");

    // A --cmdline given is kept as it is, even the default serial one.
    parsed = parse({"run", "--kernel", "k", "--console=virtio", "--cmdline",
                    MachineConfig::kDefaultCmdline});
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    CHECK(std::get<RunCommand>(parsed).config.cmdline == MachineConfig::kDefaultCmdline);
    parsed = parse({"run", "--kernel", "k", "--cmdline", "", "--console", "virtio"});
    REQUIRE(std::holds_alternative<RunCommand>(parsed));
    CHECK(std::get<RunCommand>(parsed).config.cmdline.empty());

    // The other consoles keep the ttyS0 default.
    for (char const* console : {"stdio", "none", "file:/tmp/x"}) {
        INFO("console " << console);
        parsed = parse({"run", "--kernel", "k", "--console", console});
        REQUIRE(std::holds_alternative<RunCommand>(parsed));
        CHECK(std::get<RunCommand>(parsed).config.cmdline == MachineConfig::kDefaultCmdline);
    }
}

TEST_CASE("parse_console rejects anything else as a usage error", "[cli]") {
    for (char const* text :
         {"", "file:", "file", "tty", "STDIO", "stdio ", " none", "none:x", "virtio:x", "hvc0"}) {
        INFO("console '" << text << "'");
        auto console = parse_console(text);
        REQUIRE_FALSE(console);
        CHECK(console.error().kind() == ErrorKind::Usage);
        CHECK_FALSE(console.error().message().empty());
    }
}

TEST_CASE("The --host-profile option takes auto, pvm or native; auto is the default", "[cli][host-profile]") {
    auto default_profile = parse({"run", "--kernel", "k"});
    REQUIRE(std::holds_alternative<RunCommand>(default_profile));
    CHECK(std::get<RunCommand>(default_profile).config.host_profile == HostProfile::Auto);
    for (auto [text, profile] : {std::pair{"auto", HostProfile::Auto},
                                 std::pair{"pvm", HostProfile::Pvm},
                                 std::pair{"native", HostProfile::Native}}) {
        auto parsed = parse({"run", "--kernel", "k", "--host-profile", text});
        REQUIRE(std::holds_alternative<RunCommand>(parsed));
        CHECK(std::get<RunCommand>(parsed).config.host_profile == profile);
    }
    CHECK(status_of(parse({"run", "--kernel", "k", "--host-profile", "kvm"})) ==
          exit_status::kUsage);
    CHECK(status_of(parse({"run", "--kernel", "k", "--host-profile", "PVM"})) ==
          exit_status::kUsage);
    auto bad = parse_host_profile("");
    REQUIRE_FALSE(bad);
    CHECK(bad.error().kind() == ErrorKind::Usage);
}
