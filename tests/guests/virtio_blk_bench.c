/* SPDX-License-Identifier: Apache-2.0 */
/* The block benchmark's guest (scripts/bench/block): a polling virtio-blk driver that finds its
 * device on the command line (wisp's, or the one QEMU's microvm machine generates), then issues
 * bench.n 4 KiB reads and then bench.n 4 KiB writes at pseudo-random 4 KiB-aligned offsets,
 * keeping bench.qd requests in flight. It prints a marker line before and after each phase for
 * the host to timestamp ("bench: reads start", "bench: reads done", "bench: writes done").
 * Exit status: 0 success, 3 no device, 10+ a failed step. */
#define VQ_SIZE 128
#include "virtio_mmio.h"

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_S_OK 0
#define BLK_S_UNSET 0xff

#define BLOCK 4096
#define MAX_QD 32 /* 3 descriptors each: 96 of VQ_SIZE */

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct blk_header headers[MAX_QD] __attribute__((aligned(16)));
static uint8_t statuses[MAX_QD];
static uint8_t buffers[MAX_QD][BLOCK] __attribute__((aligned(BLOCK)));

static uint32_t rng_state = 12345;
static uint32_t next_random(void) {
    rng_state = rng_state * 1664525u + 1013904223u;
    return rng_state >> 8;
}

static int fail(int status, const char* what) {
    serial_puts("bench: failed: ");
    serial_puts(what);
    serial_puts("\n");
    return status;
}

/* Puts request `slot` (descriptors 3*slot..3*slot+2) on the ring, notifying the device. */
static void start(uint32_t slot, uint32_t type, uint32_t blocks) {
    headers[slot].type = type;
    headers[slot].reserved = 0;
    headers[slot].sector = (uint64_t)(next_random() % blocks) * (BLOCK / 512);
    statuses[slot] = BLK_S_UNSET;
    uint16_t const d = (uint16_t)(3 * slot);
    vq_set_desc(d, &headers[slot], sizeof headers[slot], DESC_F_NEXT, (uint16_t)(d + 1));
    vq_set_desc((uint16_t)(d + 1), buffers[slot], BLOCK,
                (uint16_t)(DESC_F_NEXT | (type == BLK_T_IN ? DESC_F_WRITE : 0)), (uint16_t)(d + 2));
    vq_set_desc((uint16_t)(d + 2), &statuses[slot], 1, DESC_F_WRITE, 0);
    vq_submit(d);
}

/* n requests of `type`, qd at a time. Returns 0 or a failure status. */
static int phase(uint32_t type, uint32_t n, uint32_t qd, uint32_t blocks) {
    uint32_t started = 0, done = 0;
    while (started < n && started < qd) start(started++, type, blocks);
    while (done < n) {
        struct vq_used_elem elem;
        if (vq_wait_used(&elem) != 0) return fail(20, "no answer");
        uint32_t const slot = elem.id / 3;
        if (elem.id % 3 != 0 || slot >= qd) return fail(21, "unknown used id");
        if (*(volatile uint8_t*)&statuses[slot] != BLK_S_OK) return fail(22, "request failed");
        ++done;
        if (started < n) {
            start(slot, type, blocks);
            ++started;
        }
    }
    return 0;
}

int guest_main(const struct hvm_start_info* info) {
    uint32_t irq = 0;
    if (!vm_find_device(info, &irq)) return fail(3, "no virtio_mmio.device= on the command line");
    if (reg_read(REG_MAGIC) != 0x74726976) return fail(10, "magic");
    if (reg_read(REG_VERSION) != 2) return fail(11, "not virtio-mmio version 2");
    if (reg_read(REG_DEVICE_ID) != 2) return fail(12, "not a block device");
    uint32_t offered = 0;
    if (vm_init(0, &offered) != 0) return fail(13, "device set-up");
    uint32_t const capacity = reg_read(REG_CONFIG); /* sectors; the image is small */
    uint32_t const blocks = capacity / (BLOCK / 512);
    if (reg_read(REG_CONFIG + 4) != 0 || blocks == 0) return fail(14, "capacity");
    uint32_t const n = cmdline_number(info, "bench.n", 1000);
    uint32_t qd = cmdline_number(info, "bench.qd", 1);
    if (qd < 1) qd = 1;
    if (qd > MAX_QD) qd = MAX_QD;
    for (uint32_t s = 0; s < MAX_QD; ++s) fill_bytes(buffers[s], (uint8_t)(s + 1), BLOCK);
    serial_puts("bench: device at ");
    serial_put_hex(vm_base);
    serial_puts(", ");
    serial_put_dec(blocks);
    serial_puts(" blocks, n ");
    serial_put_dec(n);
    serial_puts(", qd ");
    serial_put_dec(qd);
    serial_puts("\nbench: reads start\n");
    int status = phase(BLK_T_IN, n, qd, blocks);
    if (status) return status;
    serial_puts("bench: reads done\n");
    status = phase(BLK_T_OUT, n, qd, blocks);
    if (status) return status;
    serial_puts("bench: writes done\n");
    return 0;
}
