// SPDX-License-Identifier: Apache-2.0
// The API socket: HTTP/1.1 on a Unix socket (cpp-httplib), every request handed to a
// RequestHandler. Linked only into wisp-api (cpp-httplib is a shared library on Debian).
#pragma once

#include "vmm/api/front_end.h"

namespace vmm::api {

/// Binds `path` (which must not exist) and serves it on a thread of its own until stop().
Result<std::unique_ptr<SocketServer>> serve_unix_socket(std::string const& path,
                                                        RequestHandler& handler);

}  // namespace vmm::api
