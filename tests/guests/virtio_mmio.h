/* SPDX-License-Identifier: Apache-2.0 */
/* A tiny virtio-mmio driver core for the test guests: finds the first device on the command line
 * (virtio_mmio.device=<size>@<address>:<irq>), negotiates features, sets up queue 0 with
 * VQ_SIZE entries and polls the used ring. One guest, one device: the state is static. */
#pragma once

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
#define REG_CONFIG 0x100

#define S_ACKNOWLEDGE 1
#define S_DRIVER 2
#define S_DRIVER_OK 4
#define S_FEATURES_OK 8
#define S_NEEDS_RESET 0x40

#define INT_USED 1
#define INT_CONFIG 2

#define DESC_F_NEXT 1
#define DESC_F_WRITE 2

#ifndef VQ_SIZE
#define VQ_SIZE 8 /* a guest may define its own before including this */
#endif
/* Polls of the used ring before giving up. */
#define VQ_SPINS 50000000u

struct vq_desc {
    uint64_t addr;
    uint32_t len;
    uint16_t flags;
    uint16_t next;
};
struct vq_avail {
    uint16_t flags;
    uint16_t idx;
    uint16_t ring[VQ_SIZE];
    uint16_t used_event;
};
struct vq_used_elem {
    uint32_t id;
    uint32_t len;
};
struct vq_used {
    uint16_t flags;
    uint16_t idx;
    struct vq_used_elem ring[VQ_SIZE];
    uint16_t avail_event;
};

static struct vq_desc vq_desc_table[VQ_SIZE] __attribute__((aligned(16)));
static struct vq_avail vq_avail_ring __attribute__((aligned(4)));
static struct vq_used vq_used_ring __attribute__((aligned(4)));
static uint16_t vq_next_avail; /* the avail idx we publish next */
static uint16_t vq_seen_used;  /* used entries taken so far */

static uintptr_t vm_base;

static inline uint32_t reg_read(uint32_t offset) { return *(volatile uint32_t*)(vm_base + offset); }
static inline void reg_write(uint32_t offset, uint32_t value) {
    *(volatile uint32_t*)(vm_base + offset) = value;
}
static inline void barrier(void) { __asm__ volatile("" ::: "memory"); }

/* Byte loops through volatile pointers: the compiler may not turn them into memset/memcmp
 * calls, which a freestanding guest does not have. */
static inline void fill_bytes(void* to, uint8_t value, uint32_t n) {
    volatile uint8_t* p = (volatile uint8_t*)to;
    for (uint32_t i = 0; i < n; ++i) p[i] = value;
}
static inline int same_bytes(const void* a, const void* b, uint32_t n) {
    const volatile uint8_t* x = (const volatile uint8_t*)a;
    const volatile uint8_t* y = (const volatile uint8_t*)b;
    for (uint32_t i = 0; i < n; ++i)
        if (x[i] != y[i]) return 0;
    return 1;
}
static inline uint32_t fnv1a(const void* data, uint32_t n) {
    const volatile uint8_t* p = (const volatile uint8_t*)data;
    uint32_t hash = 2166136261u;
    for (uint32_t i = 0; i < n; ++i) hash = (hash ^ p[i]) * 16777619u;
    return hash;
}

static inline uint32_t vm_parse_number(const char** p) {
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

/* The first virtio_mmio.device= entry: sets vm_base and *irq; returns 0 when there is none. */
static inline int vm_find_device(const struct hvm_start_info* info, uint32_t* irq) {
    static const char key[] = "virtio_mmio.device=";
    const char* p = (const char*)(uintptr_t)info->cmdline_paddr;
    for (; p && *p; ++p) {
        unsigned i = 0;
        while (key[i] && p[i] == key[i]) ++i;
        if (key[i]) continue;
        p += i;
        vm_parse_number(&p);
        if (*p++ != '@') return 0;
        uint32_t address = vm_parse_number(&p);
        if (*p++ != ':') return 0;
        *irq = vm_parse_number(&p);
        vm_base = address;
        return 1;
    }
    return 0;
}

/* Reset and bring the device up to DRIVER_OK with queue 0 ready. Accepts VERSION_1 and the
 * device-feature bits in `wanted` (word 0) the device offers; *offered gets word 0 as offered.
 * Returns 0, or 1 VERSION_1 missing, 2 FEATURES_OK refused, 3 queue unusable, 4 NEEDS_RESET. */
static inline int vm_init(uint32_t wanted, uint32_t* offered) {
    reg_write(REG_STATUS, 0);
    reg_write(REG_STATUS, S_ACKNOWLEDGE);
    reg_write(REG_STATUS, S_ACKNOWLEDGE | S_DRIVER);
    reg_write(REG_DEVICE_FEATURES_SEL, 1);
    if (!(reg_read(REG_DEVICE_FEATURES) & 1)) return 1;
    reg_write(REG_DEVICE_FEATURES_SEL, 0);
    *offered = reg_read(REG_DEVICE_FEATURES);
    reg_write(REG_DRIVER_FEATURES_SEL, 0);
    reg_write(REG_DRIVER_FEATURES, *offered & wanted);
    reg_write(REG_DRIVER_FEATURES_SEL, 1);
    reg_write(REG_DRIVER_FEATURES, 1); /* VERSION_1 */
    reg_write(REG_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK);
    if (!(reg_read(REG_STATUS) & S_FEATURES_OK)) return 2;

    /* Fresh rings: the device starts again from index 0. */
    fill_bytes(vq_desc_table, 0, sizeof vq_desc_table);
    fill_bytes(&vq_avail_ring, 0, sizeof vq_avail_ring);
    fill_bytes(&vq_used_ring, 0, sizeof vq_used_ring);
    vq_next_avail = 0;
    vq_seen_used = 0;

    reg_write(REG_QUEUE_SEL, 0);
    if (reg_read(REG_QUEUE_READY) != 0) return 3;
    if (reg_read(REG_QUEUE_NUM_MAX) < VQ_SIZE) return 3;
    reg_write(REG_QUEUE_NUM, VQ_SIZE);
    reg_write(REG_QUEUE_DESC_LOW, (uint32_t)(uintptr_t)vq_desc_table);
    reg_write(REG_QUEUE_DESC_HIGH, 0);
    reg_write(REG_QUEUE_DRIVER_LOW, (uint32_t)(uintptr_t)&vq_avail_ring);
    reg_write(REG_QUEUE_DRIVER_HIGH, 0);
    reg_write(REG_QUEUE_DEVICE_LOW, (uint32_t)(uintptr_t)&vq_used_ring);
    reg_write(REG_QUEUE_DEVICE_HIGH, 0);
    reg_write(REG_QUEUE_READY, 1);
    if (reg_read(REG_QUEUE_READY) != 1) return 3;
    reg_write(REG_STATUS, S_ACKNOWLEDGE | S_DRIVER | S_FEATURES_OK | S_DRIVER_OK);
    if (reg_read(REG_STATUS) & S_NEEDS_RESET) return 4;
    return 0;
}

static inline void vq_set_desc(uint16_t index, const void* addr, uint32_t len, uint16_t flags,
                               uint16_t next) {
    vq_desc_table[index].addr = (uint32_t)(uintptr_t)addr;
    vq_desc_table[index].len = len;
    vq_desc_table[index].flags = flags;
    vq_desc_table[index].next = next;
}

/* Makes the chain at `head` available and notifies the device. */
static inline void vq_submit(uint16_t head) {
    vq_avail_ring.ring[vq_next_avail % VQ_SIZE] = head;
    barrier();
    ++vq_next_avail;
    *(volatile uint16_t*)&vq_avail_ring.idx = vq_next_avail;
    barrier();
    reg_write(REG_QUEUE_NOTIFY, 0);
}

/* Waits for the next used entry; 0 and *elem on success, -1 on timeout. */
static inline int vq_wait_used(struct vq_used_elem* elem) {
    uint32_t spins = 0;
    while (*(volatile uint16_t*)&vq_used_ring.idx == vq_seen_used) {
        if (++spins == VQ_SPINS) return -1;
        __asm__ volatile("pause");
    }
    barrier();
    volatile struct vq_used_elem* e = &vq_used_ring.ring[vq_seen_used % VQ_SIZE];
    elem->id = e->id;
    elem->len = e->len;
    ++vq_seen_used;
    return 0;
}
