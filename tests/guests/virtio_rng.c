/* SPDX-License-Identifier: Apache-2.0 */
/* A minimal virtio-mmio driver for virtio-rng: finds the device through virtio_mmio.device= on
 * the command line, negotiates VERSION_1, sets up queue 0, asks for 64 random bytes and checks
 * what comes back. Exit status: 0 success, 3 no device on the command line, 10+ a failed step. */
#include "guest.h"

#define REG_MAGIC 0x000
#define REG_VERSION 0x004
#define REG_DEVICE_ID 0x008
#define REG_DEVICE_FEATURES 0x010
#define REG_DEVICE_FEATURES_SEL 0x014
#define REG_DRIVER_FEATURES 0x020
#define REG_DRIVER_FEATURES_SEL 0x024
#define REG_QUEUE_SEL 0x030
#define REG_QUEUE_NUM_MAX 0x034
#define REG_QUEUE_NUM 0x038
#define REG_QUEUE_READY 0x044
#define REG_QUEUE_NOTIFY 0x050
#define REG_INTERRUPT_STATUS 0x060
#define REG_INTERRUPT_ACK 0x064
#define REG_STATUS 0x070
#define REG_QUEUE_DESC_LOW 0x080
#define REG_QUEUE_DESC_HIGH 0x084
#define REG_QUEUE_DRIVER_LOW 0x090
#define REG_QUEUE_DRIVER_HIGH 0x094
#define REG_QUEUE_DEVICE_LOW 0x0a0
#define REG_QUEUE_DEVICE_HIGH 0x0a4

#define S_ACKNOWLEDGE 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40

#define QUEUE_SIZE 8
#define REQUEST_BYTES 64

struct desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
struct avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[QUEUE_SIZE];
    uint16_t used_event;
};
struct used_elem {
    uint32_t id;
    uint32_t len;
};
struct used {
    uint16_t flags;
    uint16_t idx;
    struct used_elem ring[QUEUE_SIZE];
    uint16_t avail_event;
};

static struct desc desc_table[QUEUE_SIZE] __attribute__((aligned(16)));
static struct avail avail_ring __attribute__((aligned(4)));
static struct used used_ring __attribute__((aligned(4)));
static uint8_t buffer[REQUEST_BYTES];

static uintptr_t base;

static uint32_t reg_read(uint32_t offset) { return *(volatile uint32_t*)(base + offset); }
static void reg_write(uint32_t offset, uint32_t value) {
    *(volatile uint32_t*)(base + offset) = value;
}
static void barrier(void) { __asm__ volatile("" ::: "memory"); }

static uint32_t parse_number(const char** p) {
    const char* s = *p;
    uint32_t value = 0;
    if (s[0] == '0' && s[1] == 'x') {
        for (s += 2;; ++s) {
            char c = *s;
            uint32_t digit;
            if (c >= '0' && c <= '9') digit = (uint32_t)(c - '0');
            else if (c >= 'a' && c <= 'f') digit = (uint32_t)(c - 'a' + 10);
            else break;
            value = value * 16 + digit;
        }
    } else {
        for (; *s >= '0' && *s <= '9'; ++s) value = value * 10 + (uint32_t)(*s - '0');
    }
    *p = s;
    return value;
}

/* virtio_mmio.device=<size>@<address>:<irq>; returns the address, 0 when absent. */
static uint32_t find_device(const struct hvm_start_info* info, uint32_t* irq) {
    static const char key[] = "virtio_mmio.device=";
    const char* p = (const char*)(uintptr_t)info->cmdline_paddr;
    for (; p && *p; ++p) {
        unsigned i = 0;
        while (key[i] && p[i] == key[i]) ++i;
        if (key[i]) continue;
        p += i;
        parse_number(&p);
        if (*p++ != '@') return 0;
        uint32_t address = parse_number(&p);
        if (*p++ != ':') return 0;
        *irq = parse_number(&p);
        return address;
    }
    return 0;
}

static int fail(int status, const char* what) {
    serial_puts("virtio-rng: failed: ");
    serial_puts(what);
    serial_puts("\n");
    return status;
}

int guest_main(const struct hvm_start_info* info) {
    uint32_t irq = 0;
    base = find_device(info, &irq);
    if (!base) {
        serial_puts("virtio-rng: no device on the command line\n");
        return 3;
    }
    serial_puts("virtio-rng: device at ");
    serial_put_hex(base);
    serial_puts(" irq ");
    serial_put_dec(irq);
    serial_puts("\n");
    if (reg_read(REG_MAGIC) != 0x74726976) return fail(10, "magic");
    if (reg_read(REG_VERSION) != 2) return fail(11, "version");
    if (reg_read(REG_DEVICE_ID) != 4) return fail(12, "device id");

    reg_write(REG_STATUS, 0);
    reg_write(REG_STATUS, S_ACKNOWLEDGE);
    reg_write(REG_STATUS, S_ACKNOWLEDGE | S_DRIVER);
    reg_write(REG_DEVICE_FEATURES_SEL, 1);
    if (!(reg_read(REG_DEVICE_FEATURES) & 1)) return fail(13, "VERSION_1 not offered");
    reg_write(REG_DRIVER_FEATURES_SEL, 0);
    reg_write(REG_DRIVER_FEATURES, 0);
    reg_write(REG_DRIVER_FEATURES_SEL, 1);
    reg_write(REG_DRIVER_FEATURES, 1); /* VERSION_1 only */
    reg_write(REG_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    if (!(reg_read(REG_STATUS) & S_FEATURES_OK)) return fail(14, "FEATURES_OK refused");

    reg_write(REG_QUEUE_SEL, 0);
    if (reg_read(REG_QUEUE_READY) != 0) return fail(15, "queue already ready");
    if (reg_read(REG_QUEUE_NUM_MAX) < QUEUE_SIZE) return fail(16, "queue too small");
    reg_write(REG_QUEUE_NUM, QUEUE_SIZE);
    reg_write(REG_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)desc_table);
    reg_write(REG_QUEUE_DESC_HIGH, 0);
    reg_write(REG_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)&avail_ring);
    reg_write(REG_QUEUE_DRIVER_HIGH, 0);
    reg_write(REG_QUEUE_DEVICE_LOW, (uint32_t)(uintptr_t)&used_ring);
    reg_write(REG_QUEUE_DEVICE_HIGH, 0);
    reg_write(REG_QUEUE_READY, 1);
    reg_write(REG_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    if (reg_read(REG_STATUS) & S_NEEDS_RESET) return fail(17, "device needs reset");

    /* One chain: a single device-writable buffer. */
    desc_table[0].addr = (uint32_t)(uintptr_t)buffer;
    desc_table[0].len = REQUEST_BYTES;
    desc_table[0].flags = 2; /* VIRTQ_DESC_F_WRITE */
    desc_table[0].next = 0;
    avail_ring.ring[0] = 0;
    barrier();
    *(volatile uint16_t*)&avail_ring.idx = 1;
    barrier();
    reg_write(REG_QUEUE_NOTIFY, 0);

    uint32_t spins = 0;
    while (*(volatile uint16_t*)&used_ring.idx != 1) {
        if (++spins == 20000000u) return fail(18, "no answer");
        __asm__ volatile("pause");
    }
    barrier();
    if (used_ring.ring[0].id != 0) return fail(19, "wrong used id");
    serial_puts("virtio-rng: used len ");
    serial_put_dec(used_ring.ring[0].len);
    serial_puts("\n");
    if (used_ring.ring[0].len != REQUEST_BYTES) return fail(20, "wrong used len");
    uint32_t nonzero = 0;
    for (unsigned i = 0; i < REQUEST_BYTES; ++i) nonzero += buffer[i] != 0;
    if (nonzero == 0) return fail(21, "all bytes zero");
    uint32_t const pending = reg_read(REG_INTERRUPT_STATUS);
    if (!(pending & 1)) return fail(22, "no used-buffer interrupt");
    reg_write(REG_INTERRUPT_ACK, pending);
    if (reg_read(REG_INTERRUPT_STATUS) != 0) return fail(23, "interrupt not acknowledged");
    serial_puts("virtio-rng: ok\n");
    return 0;
}
