// SPDX-License-Identifier: Apache-2.0
// The Firecracker-compatible front end.
#include "vmm/api/front_end.h"

#include <poll.h>
#include <signal.h>
#include <sys/signalfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <string_view>
#include <thread>

#include <CLI/CLI.hpp>
#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "vmm/api/logger.h"
#include "vmm/base/event_fd.h"
#include "vmm/base/file.h"
#include "vmm/base/log.h"
#include "vmm/base/unique_fd.h"
#include "vmm/exit_status.h"

namespace vmm::api {
namespace {

constexpr uint64_t kMaxConfigFileBytes = 1 << 20;

int usage_error(std::string const& message) {
    std::fprintf(stderr, "wisp: %s\nRun 'wisp serve --help' for the options.\n", message.c_str());
    return exit_status::kUsage;
}

int report(Error const& error) {
    spdlog::error("{}", error);
    return exit_status_for(error.kind());
}

/// SIGINT and SIGTERM before the guest starts: they end the waiting VMM (and so wisp). From
/// InstanceStart on, the machine's own event loop takes them (its signalfd reads what is
/// pending), so the watch stops before each start and resumes if the start fails.
class SignalWatch {
public:
    explicit SignalWatch(VmmHost& host) : m_host(host) {}
    ~SignalWatch() { stop(); }

    Result<void> start() {
        std::lock_guard guard(m_lock);
        if (m_thread.joinable()) return {};
        sigset_t set;
        sigemptyset(&set);
        sigaddset(&set, SIGINT);
        sigaddset(&set, SIGTERM);
        int const fd = ::signalfd(-1, &set, SFD_CLOEXEC);
        if (fd < 0) return fail_errno("signalfd", errno);
        m_signals = UniqueFd(fd);
        m_wake = TRY(EventFd::create());
        m_thread = std::thread([this] { watch(); });
        return {};
    }

    void stop() {
        std::lock_guard guard(m_lock);
        if (!m_thread.joinable()) return;
        m_wake->signal();
        m_thread.join();
        m_wake.reset();
        m_signals.reset();
    }

    /// The signal that ended wisp before its guest started, or 0.
    int signal() const { return m_signal.load(); }

private:
    void watch() {
        std::array<pollfd, 2> fds{pollfd{m_signals.get(), POLLIN, 0},
                                  pollfd{m_wake->fd(), POLLIN, 0}};
        for (;;) {
            if (::poll(fds.data(), fds.size(), -1) < 0) {
                if (errno == EINTR) continue;
                return;
            }
            if (fds[1].revents) return;
            if (fds[0].revents) {
                signalfd_siginfo info{};
                if (::read(m_signals.get(), &info, sizeof info) != sizeof info) continue;
                m_signal = static_cast<int>(info.ssi_signo);
                spdlog::info("{}: ending before the guest started", strsignal(m_signal.load()));
                m_host.shutdown();
                return;
            }
        }
    }

    VmmHost& m_host;
    std::mutex m_lock;
    UniqueFd m_signals;
    std::optional<EventFd> m_wake;
    std::thread m_thread;
    std::atomic<int> m_signal{0};
};

/// Replaces this process with wisp-api (same argv: the client's pid stays the API's pid).
int exec_api_server(char** argv) {
    std::string path;
    if (char const* override_path = std::getenv("WISP_API"); override_path && *override_path) {
        path = override_path;
    } else {
        std::array<char, PATH_MAX> self{};
        ssize_t const n = ::readlink("/proc/self/exe", self.data(), self.size() - 1);
        if (n > 0) {
            std::string_view const exe(self.data(), static_cast<size_t>(n));
            path = std::string(exe.substr(0, exe.rfind('/') + 1)) + "wisp-api";
        } else {
            path = "wisp-api";
        }
    }
    ::execv(path.c_str(), argv);
    int const code = errno;
    std::fprintf(stderr,
                 "wisp: serving the API socket needs the wisp-api program, and '%s' cannot be "
                 "run (%s): install wisp-api next to wisp, set WISP_API=PATH, or boot without "
                 "the API (--config-file FILE --no-api)\n",
                 path.c_str(), std::strerror(code));
    return exit_status::kHostError;
}

}  // namespace

bool is_front_end_invocation(int argc, char const* const* argv) {
    if (argc < 2) return false;
    std::string_view const first = argv[1];
    if (first == "serve") return true;
    if (first == "run") return false;
    for (int i = 1; i < argc; ++i) {
        std::string_view const arg = argv[i];
        for (std::string_view flag : {"--api-sock", "--config-file", "--no-api"}) {
            if (arg == flag || (arg.starts_with(flag) && arg.substr(flag.size()).starts_with('=')))
                return true;
        }
    }
    return false;
}

std::variant<FrontEndOptions, int> parse_front_end_command_line(int argc,
                                                                char const* const* argv) {
    CLI::App app{"wisp serve: a microVM driven by Firecracker's API (a Unix socket) or "
                 "configured by a Firecracker config file",
                 "wisp serve"};
    app.set_version_flag("--version", std::string("wisp ") + WISP_VERSION);
    app.footer(std::string(exit_status_table()));
    FrontEndOptions options;
    std::string api_sock, config_file, log_path, metrics_path;
    auto* sock_option = app.add_option("--api-sock", api_sock,
                                       "The API's Unix socket (must not exist yet; removed at "
                                       "exit)");
    auto* config_option = app.add_option("--config-file", config_file,
                                         "A Firecracker JSON configuration (boot-source, drives, "
                                         "machine-config, ...): the guest boots at once");
    auto* no_api_option = app.add_flag("--no-api", options.no_api,
                                       "Serve no API socket (needs --config-file)");
    no_api_option->needs(config_option);
    app.add_option("--id", options.id, "The instance id (GET / and metrics lines)")
        ->capture_default_str();
    app.add_flag("--boot-timer", options.boot_timer,
                 "Log the time until the guest writes 123 to MMIO 0xd0000000");
    auto* log_option = app.add_option("--log-path", log_path, "Write the log to this file or pipe");
    app.add_option("--level", options.level, "Log level: Error, Warning, Info, Debug, Trace, Off")
        ->capture_default_str();
    auto* metrics_option = app.add_option("--metrics-path", metrics_path,
                                          "Write metrics lines to this file or pipe");
    // `wisp serve ...` drops the command; `wisp --api-sock ...` has none.
    bool const serve = argc > 1 && std::string_view(argv[1]) == "serve";
    try {
        if (serve)
            app.parse(argc - 1, argv + 1);
        else
            app.parse(argc, argv);
    } catch (CLI::CallForHelp const& e) {
        return app.exit(e);
    } catch (CLI::CallForVersion const& e) {
        return app.exit(e);
    } catch (CLI::ParseError const& e) {
        std::string message = e.what();
        if (message.find("--no-api requires --config-file") != std::string::npos ||
            message.find("--no-api") != std::string::npos)
            message = "--no-api needs --config-file FILE: without the API, the config file is "
                      "the only way to configure the guest";
        return usage_error(message);
    }
    if (sock_option->count()) options.api_sock = api_sock;
    if (config_option->count()) options.config_file = config_file;
    if (log_option->count()) options.log_path = log_path;
    if (metrics_option->count()) options.metrics_path = metrics_path;
    if (!parse_log_level(options.level))
        return usage_error(fmt::format("--level '{}' is not one of Error, Warning, Info, Debug, "
                                       "Trace, Off", options.level));
    if (options.no_api && options.api_sock)
        return usage_error("--no-api and --api-sock contradict each other: give one of them");
    if (!options.no_api && !options.api_sock)
        return usage_error("give --api-sock PATH (the API socket to serve), or --config-file FILE "
                           "--no-api to boot without an API");
    if (options.id.empty() || options.id.size() > 64)
        return usage_error(fmt::format("--id '{}' must be 1 to 64 characters", options.id));
    return options;
}

Result<void> check_socket_path(std::string const& path) {
    struct stat info {};
    if (::lstat(path.c_str(), &info) == 0)
        return fail(ErrorKind::Usage,
                    fmt::format("the API socket path '{}' already exists: remove it (rm '{}') if "
                                "no running VMM serves it, or give another --api-sock",
                                path, path));
    return {};
}

int front_end_main(int argc, char** argv, std::chrono::steady_clock::time_point start,
                   SocketServerFactory server_factory) {
    auto parsed = parse_front_end_command_line(argc, argv);
    if (auto* status = std::get_if<int>(&parsed)) return *status;
    auto const& options = std::get<FrontEndOptions>(parsed);
    if (options.api_sock) {
        if (auto checked = check_socket_path(*options.api_sock); !checked)
            return usage_error(checked.error().message());
        if (!server_factory) return exec_api_server(argv);
    }

    // As `wisp run`: SIGINT and SIGTERM are blocked in every thread and read from signalfds.
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &set, nullptr);
    ::signal(SIGPIPE, SIG_IGN);  // a client that hangs up must not end wisp

    init_logging(*parse_log_level(options.level));
    if (options.log_path) {
        auto logged = configure_logger(LoggerSettings{.log_path = options.log_path,
                                                      .level = options.level});
        if (!logged) return report(logged.error());
    }

    VmResources resources;
    if (options.config_file) {
        auto text = read_whole_file(*options.config_file, "config file", kMaxConfigFileBytes);
        if (!text) return report(text.error());
        auto parsed_file = parse_config_file(
            std::string_view(reinterpret_cast<char const*>(text->data()), text->size()),
            *options.config_file);
        if (!parsed_file) return report(parsed_file.error());
        resources = std::move(*parsed_file);
        if (resources.api.logger && !options.log_path) {
            if (auto logged = configure_logger(*resources.api.logger); !logged)
                return report(logged.error());
        }
    }
    resources.api.id = options.id;
    resources.config.boot_timer = options.boot_timer;

    std::unique_ptr<VmmHost> host = make_vmm_host();
    Metrics metrics(*host, options.id);
    if (options.metrics_path) resources.api.metrics = MetricsSettings{.metrics_path = *options.metrics_path};
    if (resources.api.metrics) {
        if (auto configured = metrics.configure(*resources.api.metrics); !configured)
            return report(configured.error());
    }

    SignalWatch signals(*host);
    if (auto watching = signals.start(); !watching) return report(watching.error());
    RequestHandler handler(*host, resources, metrics,
                           RequestHandler::StartHooks{
                               .before = [&] { signals.stop(); },
                               .after_failure = [&] { (void)signals.start(); },
                           });

    std::unique_ptr<SocketServer> server;
    if (options.api_sock) {
        auto created = server_factory(*options.api_sock, handler);
        if (!created) return report(created.error());
        server = std::move(*created);
        spdlog::info("serving the API on {}", *options.api_sock);
    }

    // --config-file boots at once. start() returns once the VMM (serve(), below, on this
    // thread) has built the machine, so it runs on a thread of its own.
    std::atomic<int> start_failure{-1};
    std::thread config_start;
    if (options.config_file) {
        config_start = std::thread([&] {
            if (auto started = handler.start(); !started) {
                spdlog::error("{}: {}", *options.config_file, started.error());
                start_failure = exit_status_for(started.error().kind());
                host->shutdown();
            }
        });
    }
    int status = host->serve(start);
    if (config_start.joinable()) config_start.join();
    signals.stop();
    if (server) server->stop();
    if (metrics.configured()) {
        if (auto flushed = metrics.flush(); !flushed) spdlog::warn("{}", flushed.error());
    }
    if (start_failure.load() >= 0) return start_failure.load();
    if (signals.signal() == SIGTERM) return exit_status::kTerminated;
    if (signals.signal() == SIGINT) return exit_status::kInterrupted;
    return status;
}

}  // namespace vmm::api
