// SPDX-License-Identifier: Apache-2.0
// Whole-file reading.
#include "vmm/base/file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>

#include "vmm/base/unique_fd.h"

namespace vmm {

Result<std::vector<uint8_t>> read_whole_file(std::string const& path, char const* what,
                                             uint64_t max_size) {
    UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fd)
        return std::unexpected(Error::from_errno(fmt::format("cannot open {} '{}'", what, path),
                                                 errno, ErrorKind::Input));
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0)
        return std::unexpected(Error::from_errno(fmt::format("cannot stat {} '{}'", what, path),
                                                 errno, ErrorKind::Input));
    if (!S_ISREG(st.st_mode))
        return fail(ErrorKind::Input, fmt::format("{} '{}' is not a regular file", what, path));
    uint64_t const size = static_cast<uint64_t>(st.st_size);
    if (size > max_size)
        return fail(ErrorKind::Input, fmt::format("{} '{}' is {} MiB; the limit is {} MiB", what,
                                                  path, size >> 20, max_size >> 20));
    std::vector<uint8_t> data(size);
    size_t done = 0;
    while (done < size) {
        ssize_t n = ::read(fd.get(), data.data() + done, size - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0)
            return std::unexpected(Error::from_errno(
                fmt::format("cannot read {} '{}'", what, path), errno, ErrorKind::Input));
        if (n == 0) break;  // the file shrank under us: keep what is there
        done += static_cast<size_t>(n);
    }
    data.resize(done);
    return data;
}

}  // namespace vmm
