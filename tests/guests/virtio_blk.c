/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal virtio-blk driver over virtio-mmio: writes 8 sectors at sector 16 with a known
 * pattern, flushes, reads them back and compares, reads sector 0 (its FNV-1a goes to the serial
 * port for the host to check), asks for the disk's id and reads past the end. On a read-only
 * disk (VIRTIO_BLK_F_RO offered) the write must fail with IOERR instead.
 * Exit status: 0 success, 3 no device on the command line, 10+ a failed step. */
#include "virtio_mmio.h"

#define BLK_F_RO 5
#define BLK_F_FLUSH 9

#define BLK_T_IN 0
#define BLK_T_OUT 1
#define BLK_T_FLUSH 4
#define BLK_T_GET_ID 8

#define BLK_S_OK 0
#define BLK_S_IOERR 1
#define BLK_S_UNSET 0xff

#define SECTOR 512
#define TEST_SECTOR 16
#define TEST_SECTORS 8
#define TEST_BYTES (TEST_SECTORS * SECTOR)
#define ID_BYTES 20

struct blk_header {
    uint32_t type;
    uint32_t reserved;
    uint64_t sector;
};

static struct blk_header header __attribute__((aligned(16)));
static uint8_t status_byte;
static uint8_t write_buffer[TEST_BYTES];
static uint8_t read_buffer[TEST_BYTES];
static uint8_t id_buffer[ID_BYTES + 1];

/* The pattern the host checks for in the image at sector 16 (tests/kvm/guest_test.cpp). */
static uint8_t pattern(uint32_t i) { return (uint8_t)(i * 7 + (i >> 8) + 0x3c); }

static int fail(int status, const char* what) {
    serial_puts("virtio-blk: failed: ");
    serial_puts(what);
    serial_puts("\n");
    return status;
}

/* One request: header, optional data (device-writable when `in`), status. Returns the status
 * byte, or -1 when the device did not answer, -2 when the used entry is not our chain. */
static int request(uint32_t type, uint32_t sector, void* data, uint32_t len, int in,
                   uint32_t* used_len) {
    header.type = type;
    header.reserved = 0;
    header.sector = sector;
    status_byte = BLK_S_UNSET;
    if (len) {
        vq_set_desc(0, &header, sizeof header, DESC_F_NEXT, 1);
        vq_set_desc(1, data, len, (uint16_t)(DESC_F_NEXT | (in ? DESC_F_WRITE : 0)), 2);
        vq_set_desc(2, &status_byte, 1, DESC_F_WRITE, 0);
    } else {
        vq_set_desc(0, &header, sizeof header, DESC_F_NEXT, 2);
        vq_set_desc(2, &status_byte, 1, DESC_F_WRITE, 0);
    }
    vq_submit(0);
    struct vq_used_elem elem;
    if (vq_wait_used(&elem) != 0) return -1;
    if (elem.id != 0) return -2;
    *used_len = elem.len;
    return *(volatile uint8_t*)&status_byte;
}

static void put_status(const char* what, int status, uint32_t used_len) {
    serial_puts("virtio-blk: ");
    serial_puts(what);
    serial_puts(" status ");
    serial_put_dec((uint32_t)status);
    serial_puts(" len ");
    serial_put_dec(used_len);
    serial_puts("\n");
}

int guest_main(const struct hvm_start_info* info) {
    uint32_t irq = 0;
    if (!vm_find_device(info, &irq)) {
        serial_puts("virtio-blk: no device on the command line\n");
        return 3;
    }
    serial_puts("virtio-blk: device at ");
    serial_put_hex(vm_base);
    serial_puts(" irq ");
    serial_put_dec(irq);
    serial_puts("\n");
    if (reg_read(REG_MAGIC) != 0x74726976) return fail(10, "magic");
    if (reg_read(REG_VERSION) != 2) return fail(11, "version");
    if (reg_read(REG_DEVICE_ID) != 2) return fail(12, "device id");

    uint32_t offered = 0;
    switch (vm_init((1u << BLK_F_FLUSH) | (1u << BLK_F_RO), &offered)) {
        case 0: break;
        case 1: return fail(13, "VERSION_1 not offered");
        case 2: return fail(14, "FEATURES_OK refused");
        case 3: return fail(15, "queue unusable");
        default: return fail(16, "device needs reset");
    }
    if (!(offered & (1u << BLK_F_FLUSH))) return fail(17, "FLUSH not offered");
    int const read_only = (offered >> BLK_F_RO) & 1;
    uint32_t const capacity_low = reg_read(REG_CONFIG);
    uint32_t const capacity_high = reg_read(REG_CONFIG + 4);
    serial_puts("virtio-blk: capacity ");
    serial_put_dec(capacity_low);
    serial_puts(" sectors");
    serial_puts(read_only ? ", read-only\n" : "\n");
    if (capacity_high != 0 || capacity_low < TEST_SECTOR + TEST_SECTORS)
        return fail(18, "capacity");

    uint32_t used_len = 0;
    for (uint32_t i = 0; i < TEST_BYTES; ++i) write_buffer[i] = pattern(i);
    int status = request(BLK_T_OUT, TEST_SECTOR, write_buffer, TEST_BYTES, 0, &used_len);
    if (status < 0) return fail(19, "no answer");
    put_status("write", status, used_len);
    if (status != (read_only ? BLK_S_IOERR : BLK_S_OK) || used_len != 1)
        return fail(20, "write status");

    status = request(BLK_T_FLUSH, 0, 0, 0, 0, &used_len);
    if (status < 0) return fail(21, "no answer");
    put_status("flush", status, used_len);
    if (status != BLK_S_OK || used_len != 1) return fail(22, "flush status");

    fill_bytes(read_buffer, 0, TEST_BYTES);
    status = request(BLK_T_IN, TEST_SECTOR, read_buffer, TEST_BYTES, 1, &used_len);
    if (status < 0) return fail(23, "no answer");
    put_status("read", status, used_len);
    if (status != BLK_S_OK || used_len != TEST_BYTES + 1) return fail(24, "read status");
    serial_puts("virtio-blk: sectors 16-23 fnv1a ");
    serial_put_hex(fnv1a(read_buffer, TEST_BYTES));
    serial_puts("\n");
    int const matches = same_bytes(read_buffer, write_buffer, TEST_BYTES);
    if (read_only) {
        if (matches) return fail(25, "a read-only disk took the write");
        serial_puts("virtio-blk: read-only: write refused\n");
    } else {
        if (!matches) return fail(25, "read back differs from what was written");
        serial_puts("virtio-blk: read back matches\n");
    }

    fill_bytes(read_buffer, 0, SECTOR);
    status = request(BLK_T_IN, 0, read_buffer, SECTOR, 1, &used_len);
    if (status < 0) return fail(26, "no answer");
    if (status != BLK_S_OK || used_len != SECTOR + 1) return fail(27, "sector 0 status");
    serial_puts("virtio-blk: sector 0 fnv1a ");
    serial_put_hex(fnv1a(read_buffer, SECTOR));
    serial_puts("\n");

    fill_bytes(id_buffer, 0, sizeof id_buffer);
    status = request(BLK_T_GET_ID, 0, id_buffer, ID_BYTES, 1, &used_len);
    if (status < 0) return fail(28, "no answer");
    if (status != BLK_S_OK || used_len != ID_BYTES + 1) return fail(29, "get id status");
    serial_puts("virtio-blk: id '");
    serial_puts((const char*)id_buffer); /* id_buffer[ID_BYTES] stays 0 */
    serial_puts("'\n");

    /* Four sectors inside, four past the end: the whole request fails, nothing is read. */
    fill_bytes(read_buffer, 0xee, TEST_BYTES);
    status = request(BLK_T_IN, capacity_low - TEST_SECTORS / 2, read_buffer, TEST_BYTES, 1,
                     &used_len);
    if (status < 0) return fail(30, "no answer");
    put_status("read past the end", status, used_len);
    if (status != BLK_S_IOERR || used_len != 1) return fail(31, "read past the end status");
    for (uint32_t i = 0; i < TEST_BYTES; ++i)
        if (read_buffer[i] != 0xee) return fail(32, "read past the end wrote data");

    uint32_t const pending = reg_read(REG_INTERRUPT_STATUS);
    if (!(pending & INT_USED)) return fail(33, "no used-buffer interrupt");
    reg_write(REG_INTERRUPT_ACK, pending);
    if (reg_read(REG_STATUS) & S_NEEDS_RESET) return fail(34, "device needs reset");
    serial_puts("virtio-blk: ok\n");
    return 0;
}
