// SPDX-License-Identifier: Apache-2.0
// Reading a user-named file whole, with errors that say which file and what to do.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vmm/base/result.h"

namespace vmm {

/// Reads path (a regular file of at most max_size bytes). `what` names it in errors
/// ("kernel", "initrd"). Errors are ErrorKind::Input.
Result<std::vector<uint8_t>> read_whole_file(std::string const& path, char const* what,
                                             uint64_t max_size);

}  // namespace vmm
