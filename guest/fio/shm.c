// SPDX-License-Identifier: Apache-2.0
// System V shared memory for fio in wisp's guest, whose kernel is built without CONFIG_SYSVIPC:
// fio keeps its job table in a shmget() segment and fails without one. Preloaded
// (LD_PRELOAD), this gives each shmget() an anonymous shared mapping, made at shmget() so that
// shmat() in the parent and in forked children sees the same memory. Only private segments
// (fio's use) are supported; shmctl(IPC_RMID) and shmdt() are accepted.
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <sys/mman.h>
#include <sys/shm.h>

enum { kMaxSegments = 64 };
static void* segments[kMaxSegments];
static size_t sizes[kMaxSegments];

int shmget(key_t key, size_t size, int flags) {
    (void)key;
    (void)flags;
    for (int id = 0; id < kMaxSegments; ++id) {
        if (segments[id]) continue;
        void* p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (p == MAP_FAILED) {
            errno = ENOMEM;
            return -1;
        }
        segments[id] = p;
        sizes[id] = size;
        return id;
    }
    errno = ENOSPC;
    return -1;
}

void* shmat(int id, void const* address, int flags) {
    (void)address;
    (void)flags;
    if (id < 0 || id >= kMaxSegments || !segments[id]) {
        errno = EINVAL;
        return (void*)-1;
    }
    return segments[id];
}

int shmdt(void const* address) {
    (void)address;
    return 0;
}

int shmctl(int id, int command, struct shmid_ds* buffer) {
    (void)buffer;
    if (id < 0 || id >= kMaxSegments || !segments[id]) {
        errno = EINVAL;
        return -1;
    }
    if (command == IPC_RMID) return 0;
    errno = EINVAL;
    return -1;
}
