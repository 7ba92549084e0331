// SPDX-License-Identifier: Apache-2.0
// The API socket's HTTP server.
#include "vmm/api/http_server.h"

#include <sys/socket.h>
#include <unistd.h>

#include <thread>

#include <fmt/format.h>
#include <httplib.h>

namespace vmm::api {
namespace {

class HttpServer final : public SocketServer {
public:
    HttpServer(std::string path, RequestHandler& handler)
        : m_path(std::move(path)), m_handler(handler) {}
    ~HttpServer() override { stop(); }

    Result<void> bind() {
        m_server.set_address_family(AF_UNIX);
        m_server.set_payload_max_length(kMaxBodyBytes);
        // A client (the Go SDK, curl with several URLs) may keep one connection for all its
        // requests; httplib's default closes it after 5.
        m_server.set_keep_alive_max_count(100000);
        // Every method and path reaches the handler: it answers wrong methods and unknown paths
        // with 400 and a fault_message, as Firecracker does, never 404.
        auto serve = [this](httplib::Request const& request, httplib::Response& response) {
            ApiResponse const answer = m_handler.handle(request.method, request.path, request.body);
            response.status = answer.status;
            if (!answer.body.empty()) response.set_content(answer.body, "application/json");
        };
        m_server.Get(".*", serve);
        m_server.Put(".*", serve);
        m_server.Patch(".*", serve);
        m_server.Post(".*", serve);
        m_server.Delete(".*", serve);
        m_server.Options(".*", serve);
        // What httplib refuses itself (a body over the limit: 413; a malformed request) is
        // answered as Firecracker would: 400 with a fault_message.
        m_server.set_error_handler(httplib::Server::HandlerWithResponse(
            [](httplib::Request const& request, httplib::Response& response) {
                if (!response.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
                std::string message =
                    response.status == 413
                        ? fmt::format("{} {}: the request body is larger than {} bytes, the limit",
                                      request.method, request.path, kMaxBodyBytes)
                        : fmt::format("{} {}: the request is malformed (HTTP status {}): send "
                                      "HTTP/1.1 with a JSON body", request.method, request.path,
                                      response.status);
                response.status = 400;
                response.set_content(fault_body(message), "application/json");
                return httplib::Server::HandlerResponse::Handled;
            }));
        if (!m_server.bind_to_port(m_path, 80))
            return fail(ErrorKind::Host,
                        fmt::format("cannot create the API socket '{}': check that its directory "
                                    "exists and is writable and that the path is short enough "
                                    "(108 bytes)", m_path));
        m_bound = true;
        m_thread = std::thread([this] { m_server.listen_after_bind(); });
        return {};
    }

    void stop() override {
        if (m_thread.joinable()) {
            m_server.stop();
            m_thread.join();
        }
        if (m_bound) {
            ::unlink(m_path.c_str());
            m_bound = false;
        }
    }

private:
    std::string const m_path;
    RequestHandler& m_handler;
    httplib::Server m_server;
    std::thread m_thread;
    bool m_bound = false;
};

}  // namespace

Result<std::unique_ptr<SocketServer>> serve_unix_socket(std::string const& path,
                                                        RequestHandler& handler) {
    auto server = std::make_unique<HttpServer>(path, handler);
    TRY(server->bind());
    return std::unique_ptr<SocketServer>(std::move(server));
}

}  // namespace vmm::api
