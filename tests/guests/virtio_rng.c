/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal virtio-mmio driver for virtio-rng (on virtio_mmio.h): finds the device through
 * virtio_mmio.device= on the command line, negotiates VERSION_1, sets up queue 0, asks for 64
 * random bytes and checks what comes back. Exit status: 0 success, 3 no device on the command
 * line, 10+ a failed step. */
#include "guest.h"
#include "virtio_mmio.h"

#define REQUEST_BYTES 64

static uint8_t buffer[REQUEST_BYTES];

static int fail(int status, const char* what) {
    serial_puts("virtio-rng: failed: ");
    serial_puts(what);
    serial_puts("\n");
    return status;
}

int guest_main(const struct hvm_start_info* info) {
    uint32_t irq = 0;
    if (!vm_find_device(info, &irq)) {
        serial_puts("virtio-rng: no device on the command line\n");
        return 3;
    }
    serial_puts("virtio-rng: device at ");
    serial_put_hex(vm_base);
    serial_puts(" irq ");
    serial_put_dec(irq);
    serial_puts("\n");
    if (reg_read(REG_MAGIC) != 0x74726976) return fail(10, "magic");
    if (reg_read(REG_VERSION) != 2) return fail(11, "version");
    if (reg_read(REG_DEVICE_ID) != 4) return fail(12, "device id");

    uint32_t offered = 0;
    switch (vm_init(0, &offered)) {  /* VERSION_1 only */
        case 0: break;
        case 1: return fail(13, "VERSION_1 not offered");
        case 2: return fail(14, "FEATURES_OK refused");
        case 3: return fail(16, "queue unusable");
        default: return fail(17, "device needs reset");
    }

    /* One chain: a single device-writable buffer. */
    vq_set_desc(0, buffer, REQUEST_BYTES, DESC_F_WRITE, 0);
    vq_submit(0);
    struct vq_used_elem used;
    if (vq_wait_used(&used) != 0) return fail(18, "no answer");
    if (used.id != 0) return fail(19, "wrong used id");
    serial_puts("virtio-rng: used len ");
    serial_put_dec(used.len);
    serial_puts("\n");
    if (used.len != REQUEST_BYTES) return fail(20, "wrong used len");
    uint32_t nonzero = 0;
    for (unsigned i = 0; i < REQUEST_BYTES; ++i) nonzero += buffer[i] != 0;
    if (nonzero == 0) return fail(21, "all bytes zero");
    uint32_t const pending = reg_read(REG_INTERRUPT_STATUS);
    if (!(pending & INT_USED)) return fail(22, "no used-buffer interrupt");
    reg_write(REG_INTERRUPT_ACK, pending);
    if (reg_read(REG_INTERRUPT_STATUS) != 0) return fail(23, "interrupt not acknowledged");
    serial_puts("virtio-rng: ok\n");
    return 0;
}
