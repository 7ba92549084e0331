// SPDX-License-Identifier: Apache-2.0
// Opening and locking disk images.
#include "devices/virtio/block/disk_image.h"

#include <fcntl.h>
#include <linux/fs.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>

#include <cerrno>

namespace vmm::devices::virtio {

Result<DiskImage> open_disk_image(std::string const& path, bool read_only) {
    UniqueFd fd(::open(path.c_str(), (read_only ? O_RDONLY : O_RDWR) | O_CLOEXEC));
    if (!fd) {
        int const code = errno;
        bool const denied = code == EACCES || code == EPERM || code == EROFS;
        return std::unexpected(Error::from_errno(
            fmt::format("cannot open disk '{}'{}", path,
                        denied && !read_only ? " for writing (add ,ro to use it read-only)" : ""),
            code, ErrorKind::Input));
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) < 0)
        return std::unexpected(Error::from_errno(fmt::format("cannot stat disk '{}'", path),
                                                 errno, ErrorKind::Input));
    uint64_t size = 0;
    if (S_ISREG(st.st_mode)) {
        size = static_cast<uint64_t>(st.st_size);
    } else if (S_ISBLK(st.st_mode)) {
        if (::ioctl(fd.get(), BLKGETSIZE64, &size) < 0)
            return std::unexpected(Error::from_errno(
                fmt::format("cannot read the size of block device '{}'", path), errno));
    } else {
        return fail(ErrorKind::Input,
                    fmt::format("disk '{}' is not a regular file or a block device", path));
    }
    if (::flock(fd.get(), (read_only ? LOCK_SH : LOCK_EX) | LOCK_NB) < 0) {
        if (errno == EWOULDBLOCK)
            return fail(ErrorKind::Input,
                        fmt::format("disk '{}' is locked by another user of it (another VM, or "
                                    "the same --disk given twice): stop that one or use a copy",
                                    path));
        return std::unexpected(
            Error::from_errno(fmt::format("cannot lock disk '{}' (flock)", path), errno));
    }
    return DiskImage{path, std::move(fd), size, read_only};
}

}  // namespace vmm::devices::virtio
