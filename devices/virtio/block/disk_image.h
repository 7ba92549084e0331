// SPDX-License-Identifier: Apache-2.0
// DiskImage: a disk file the user named, opened and locked before /dev/kvm is, so a missing,
// unreadable or busy image is refused the same way on every host.
#pragma once

#include <cstdint>
#include <string>

#include "vmm/base/result.h"
#include "vmm/base/unique_fd.h"

namespace vmm::devices::virtio {

struct DiskImage {
    std::string path;
    UniqueFd fd;        // O_CLOEXEC; holds the flock until closed
    uint64_t size = 0;  // bytes: the file's size, or the block device's
    bool read_only = false;
};

/// Opens path read-write (read-only with read_only), takes flock(LOCK_EX | LOCK_NB) (LOCK_SH
/// when read-only) so two VMs never share a writable image, and reads its size. A regular file
/// or a block device. Errors are ErrorKind::Input, except an unexpected flock/ioctl failure.
Result<DiskImage> open_disk_image(std::string const& path, bool read_only);

}  // namespace vmm::devices::virtio
