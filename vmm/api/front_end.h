// SPDX-License-Identifier: Apache-2.0
// The Firecracker-compatible front end: `wisp --api-sock PATH [--config-file FILE] [--no-api]
// [--id ID] [--boot-timer] [--log-path P] [--level L] [--metrics-path P]`, and `wisp serve` with
// the same flags. It reads the config file (and boots it at once), serves the API socket, and
// runs the VMM (VmmHost) on the main thread.
//
// The static `wisp` binary has no HTTP server (cpp-httplib is a shared library on Debian): it
// handles `--config-file ... --no-api` itself and execs `wisp-api`, the same program linked
// with the server, when a socket must be served (ARCHITECTURE.md, "The API server lives in
// wisp-api").
#pragma once

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <variant>

#include "vmm/api/request_handler.h"

namespace vmm::api {

struct FrontEndOptions {
    std::optional<std::string> api_sock;
    std::optional<std::string> config_file;
    bool no_api = false;
    std::string id = "anonymous-instance";
    bool boot_timer = false;
    std::optional<std::string> log_path;
    std::string level = "Info";
    std::optional<std::string> metrics_path;
};

/// `wisp serve ...`, or Firecracker's flags without a command (`wisp --api-sock ...`).
bool is_front_end_invocation(int argc, char const* const* argv);

/// The options, or the status to exit with now (help: 0, bad usage: 64, message printed).
std::variant<FrontEndOptions, int> parse_front_end_command_line(int argc, char const* const* argv);

/// The API socket's server (vmm/api/http_server.h, in wisp-api). stop() ends it and removes
/// the socket file.
class SocketServer {
public:
    virtual ~SocketServer() = default;
    virtual void stop() = 0;
};
using SocketServerFactory = Result<std::unique_ptr<SocketServer>> (*)(std::string const& path,
                                                                      RequestHandler& handler);

/// Refuses an API socket path that already exists (as Firecracker does).
Result<void> check_socket_path(std::string const& path);

/// The front end's main. `server` is null in the static wisp: it then execs wisp-api (next to
/// itself, or $WISP_API) when a socket is to be served.
int front_end_main(int argc, char** argv, std::chrono::steady_clock::time_point start,
                   SocketServerFactory server);

}  // namespace vmm::api
