/* SPDX-License-Identifier: Apache-2.0 */
/* A hostile virtio-blk driver: malformed descriptor chains (a loop, next past the table, the
 * header in a device-writable buffer, no writable status byte) must each come back on the used
 * ring, with IOERR where there is a status byte to write, and the queue must go on; an avail
 * index that jumps by more than the queue size must set DEVICE_NEEDS_RESET with a config-change
 * interrupt. After a reset the device must work again.
 * Exit status: 0 success, 3 no device on the command line, 10+ a failed check. */
#include "virtio_mmio.h"

#define BLK_T_IN 0

#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSET 0xff

#define SECTOR 512

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct blk_header header __attribute__((aligned(16)));
static uint8_t status_byte;
static uint8_t data[SECTOR];

static int fail(int status, const char* what) {
    serial_puts("virtio-blk-hostile: failed: ");
    serial_puts(what);
    serial_puts("\n");
    return status;
}

static void say(const char* what) {
    serial_puts("virtio-blk-hostile: ");
    serial_puts(what);
    serial_puts("\n");
}

static void prepare(void) {
    header.type = BLK_T_IN;
    header.reserved = 0;
    header.sector = 0;
    status_byte = BLK_S_UNSET;
    fill_bytes(data, 0xee, SECTOR);
}

/* Submits the chain at `head` and checks it comes back with `len` bytes written and the status
 * byte `status`. Returns 0, or the failing check: 1 no answer, 2 wrong id, 3 wrong len,
 * 4 wrong status, 5 data touched (when `untouched`). */
static int expect(uint16_t head, uint32_t len, uint8_t status, int untouched) {
    vq_submit(head);
    struct vq_used_elem elem;
    if (vq_wait_used(&elem) != 0) return 1;
    serial_puts("virtio-blk-hostile:   used id ");
    serial_put_dec(elem.id);
    serial_puts(" len ");
    serial_put_dec(elem.len);
    serial_puts(" status ");
    serial_put_hex(*(volatile uint8_t*)&status_byte);
    serial_puts("\n");
    if (elem.id != head) return 2;
    if (elem.len != len) return 3;
    if (*(volatile uint8_t*)&status_byte != status) return 4;
    if (untouched)
        for (uint32_t i = 0; i < SECTOR; ++i)
            if (data[i] != 0xee) return 5;
    return 0;
}

/* A well-formed read of sector 0 at `head`: OK, 513 bytes. */
static int good_read(uint16_t head) {
    prepare();
    uint16_t const d = (uint16_t)((head + 1) % VQ_SIZE), s = (uint16_t)((head + 2) % VQ_SIZE);
    vq_set_desc(head, &header, sizeof header, DESC_F_NEXT, d);
    vq_set_desc(d, data, SECTOR, DESC_F_NEXT | DESC_F_WRITE, s);
    vq_set_desc(s, &status_byte, 1, DESC_F_WRITE, 0);
    int const r = expect(head, SECTOR + 1, BLK_S_OK, 0);
    if (r == 0) {
        serial_puts("virtio-blk-hostile: sector 0 fnv1a ");
        serial_put_hex(fnv1a(data, SECTOR));
        serial_puts("\n");
    }
    return r;
}

static int init(void) {
    uint32_t offered = 0;
    switch (vm_init(0, &offered)) {
        case 0: return 0;
        case 1: return fail(11, "VERSION_1 not offered");
        case 2: return fail(12, "FEATURES_OK refused");
        case 3: return fail(13, "queue unusable");
        default: return fail(14, "device needs reset");
    }
}

int guest_main(const struct hvm_start_info* info) {
    uint32_t irq = 0;
    if (!vm_find_device(info, &irq)) {
        say("no device on the command line");
        return 3;
    }
    if (reg_read(REG_MAGIC) != 0x74726976 || reg_read(REG_VERSION) != 2 ||
        reg_read(REG_DEVICE_ID) != 2)
        return fail(10, "not a virtio-blk device");
    int r = init();
    if (r) return r;

    /* A loop: 0 -> 1 -> 2 -> 1 -> ... The device gives up after the table's size and returns
     * the chain with nothing written (the status byte is never reached). */
    say("a chain that loops");
    prepare();
    vq_set_desc(0, &header, sizeof header, DESC_F_NEXT, 1);
    vq_set_desc(1, data, SECTOR, DESC_F_NEXT | DESC_F_WRITE, 2);
    vq_set_desc(2, &status_byte, 1, DESC_F_NEXT | DESC_F_WRITE, 1);
    if ((r = expect(0, 0, BLK_S_UNSET, 1))) return 20 + r;

    /* next == queue size: one past the table. */
    say("next past the descriptor table");
    prepare();
    vq_set_desc(5, &header, sizeof header, DESC_F_NEXT, VQ_SIZE);
    if ((r = expect(5, 0, BLK_S_UNSET, 1))) return 30 + r;

    /* The header in a device-writable buffer: no readable header, so IOERR in the last
     * writable byte (the status), nothing read. */
    say("the header in a writable buffer");
    prepare();
    vq_set_desc(2, &header, sizeof header, DESC_F_NEXT | DESC_F_WRITE, 3);
    vq_set_desc(3, data, SECTOR, DESC_F_NEXT | DESC_F_WRITE, 4);
    vq_set_desc(4, &status_byte, 1, DESC_F_WRITE, 0);
    if ((r = expect(2, 1, BLK_S_IOERR, 1))) return 40 + r;

    /* No writable byte for the status: returned untouched. */
    say("no writable status byte");
    prepare();
    vq_set_desc(6, &header, sizeof header, DESC_F_NEXT, 7);
    vq_set_desc(7, &status_byte, 1, 0, 0);
    if ((r = expect(6, 0, BLK_S_UNSET, 1))) return 50 + r;

    /* The queue goes on. */
    say("a good read after the malformed chains");
    if ((r = good_read(1))) return 60 + r;
    if (reg_read(REG_STATUS) & S_NEEDS_RESET) return fail(66, "needs reset after bad chains");
    uint32_t pending = reg_read(REG_INTERRUPT_STATUS);
    if (!(pending & INT_USED)) return fail(67, "no used-buffer interrupt");
    reg_write(REG_INTERRUPT_ACK, pending);

    /* The avail index jumps by more than the queue size: the device cannot tell which entries
     * are new, so it stops and asks for a reset. */
    say("an avail index jump");
    uint16_t const used_before = *(volatile uint16_t*)&vq_used_ring.idx;
    *(volatile uint16_t*)&vq_avail_ring.idx = (uint16_t)(vq_next_avail + VQ_SIZE + 1);
    barrier();
    reg_write(REG_QUEUE_NOTIFY, 0);
    uint32_t spins = 0;
    while (!(reg_read(REG_STATUS) & S_NEEDS_RESET))
        if (++spins == 1000000u) return fail(70, "no DEVICE_NEEDS_RESET");
    serial_puts("virtio-blk-hostile: status ");
    serial_put_hex(reg_read(REG_STATUS));
    serial_puts("\n");
    pending = reg_read(REG_INTERRUPT_STATUS);
    serial_puts("virtio-blk-hostile: interrupt status ");
    serial_put_hex(pending);
    serial_puts("\n");
    if (!(pending & INT_CONFIG)) return fail(71, "no config-change interrupt");
    if (*(volatile uint16_t*)&vq_used_ring.idx != used_before)
        return fail(72, "entries used after the jump");
    reg_write(REG_INTERRUPT_ACK, pending);
    /* Notifying a device that needs a reset does nothing. */
    reg_write(REG_QUEUE_NOTIFY, 0);

    say("reset");
    reg_write(REG_STATUS, 0);
    if (reg_read(REG_STATUS) != 0) return fail(73, "status not 0 after reset");
    if (reg_read(REG_INTERRUPT_STATUS) != 0) return fail(74, "interrupts pending after reset");
    if ((r = init())) return r;
    say("a good read after the reset");
    if ((r = good_read(0))) return 80 + r;
    if (reg_read(REG_STATUS) & S_NEEDS_RESET) return fail(86, "needs reset after the good read");
    say("ok");
    return 0;
}
