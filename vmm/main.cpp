// SPDX-License-Identifier: Apache-2.0
// wisp's entry point: command line -> MachineConfig -> build -> run. The only try/catch.
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <exception>

#include <spdlog/spdlog.h>

#include "vmm/api/front_end.h"
#include "vmm/base/log.h"
#include "vmm/builder.h"
#include "vmm/cli.h"
#include "vmm/exit_status.h"
#ifdef WISP_API_SERVER
#include "vmm/api/http_server.h"
#endif

namespace {

// wisp-api serves the API socket itself; the static wisp execs wisp-api for that.
#ifdef WISP_API_SERVER
constexpr vmm::api::SocketServerFactory kSocketServer = &vmm::api::serve_unix_socket;
#else
constexpr vmm::api::SocketServerFactory kSocketServer = nullptr;
#endif

int run(vmm::RunCommand const& command, std::chrono::steady_clock::time_point start) {
    // SIGINT and SIGTERM arrive through a signalfd on the event loop; block them before any
    // thread exists so every thread inherits the mask.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);

    auto machine = vmm::build_machine(command.config, start);
    if (!machine) {
        spdlog::error("{}", machine.error());
        return vmm::exit_status_for(machine.error().kind());
    }
    auto status = (*machine)->run();
    if (!status) {
        spdlog::error("{}", status.error());
        return vmm::exit_status::kHostError;
    }
    return *status;
}

}  // namespace

int main(int argc, char** argv) {
    auto const start = std::chrono::steady_clock::now();
    try {
        if (vmm::api::is_front_end_invocation(argc, argv))
            return vmm::api::front_end_main(argc, argv, start, kSocketServer);
        auto parsed = vmm::parse_command_line(argc, argv);
        if (auto* status = std::get_if<int>(&parsed)) return *status;
        auto const& command = std::get<vmm::RunCommand>(parsed);
        vmm::init_logging(command.log_level);
        return run(command, start);
    } catch (std::exception const& e) {
        std::fprintf(stderr, "wisp: internal error: %s\n", e.what());
        return vmm::exit_status::kHostError;
    }
}
