/* SPDX-License-Identifier: Apache-2.0 */
/* The test guests' tiny runtime: port I/O, the COM1 UART, the exit device, start info. */
#pragma once

#include <stdint.h>

#define EXIT_PORT 0xf4
#define COM1 0x3f8

struct hvm_start_info {
    uint32_t magic;
    uint32_t version;
    uint32_t flags;
    uint32_t nr_modules;
    uint64_t modlist_paddr;
    uint64_t cmdline_paddr;
    uint64_t rsdp_paddr;
    uint64_t memmap_paddr;
    uint32_t memmap_entries;
    uint32_t reserved;
};

struct hvm_modlist_entry {
    uint64_t paddr;
    uint64_t size;
    uint64_t cmdline_paddr;
    uint64_t reserved;
};

struct hvm_memmap_table_entry {
    uint64_t addr;
    uint64_t size;
    uint32_t type;
    uint32_t reserved;
};

static inline void outb(uint16_t port, uint8_t value) {
    __asm__ volatile("outb %0, %1" : : "a"(value), "Nd"(port));
}
static inline uint8_t inb(uint16_t port) {
    uint8_t value;
    __asm__ volatile("inb %1, %0" : "=a"(value) : "Nd"(port));
    return value;
}

void serial_putc(char c);
void serial_puts(const char* s);
void serial_put_hex(uint64_t value);
void serial_put_dec(uint32_t value);
int serial_getc(void);
__attribute__((noreturn)) void guest_exit(int status);

/* The value of NAME=... on the command line, parsed as a decimal, or fallback. */
uint32_t cmdline_number(const struct hvm_start_info* info, const char* name, uint32_t fallback);
int guest_main(const struct hvm_start_info* info);
