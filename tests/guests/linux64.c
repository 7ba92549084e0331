/* SPDX-License-Identifier: Apache-2.0 */
/* The 64-bit Linux-entry test guest: checks what it finds through boot_params (%rsi) and the
   CPU state at the 64-bit entry, prints it for the test to compare, exits 0 when all is well. */
#include "guest.h"

/* Offsets in boot_params (Documentation/x86/zero-page.rst, boot.rst). */
#define BP_EXT_RAMDISK_IMAGE 0x0c0
#define BP_EXT_CMD_LINE_PTR 0x0c8
#define BP_E820_ENTRIES 0x1e8
#define BP_BOOT_FLAG 0x1fe
#define BP_HEADER 0x202
#define BP_VERSION 0x206
#define BP_TYPE_OF_LOADER 0x210
#define BP_LOADFLAGS 0x211
#define BP_RAMDISK_IMAGE 0x218
#define BP_RAMDISK_SIZE 0x21c
#define BP_CMD_LINE_PTR 0x228
#define BP_XLOADFLAGS 0x236
#define BP_E820_TABLE 0x2d0

static uint8_t u8(const uint8_t* p, unsigned offset) { return p[offset]; }
static uint16_t u16(const uint8_t* p, unsigned offset) {
    return (uint16_t)(p[offset] | (p[offset + 1] << 8));
}
static uint32_t u32(const uint8_t* p, unsigned offset) {
    return (uint32_t)u16(p, offset) | ((uint32_t)u16(p, offset + 2) << 16);
}
static uint64_t u64(const uint8_t* p, unsigned offset) {
    return (uint64_t)u32(p, offset) | ((uint64_t)u32(p, offset + 4) << 32);
}

static uint32_t fnv1a(const uint8_t* data, uint64_t size) {
    uint32_t hash = 2166136261u;
    for (uint64_t i = 0; i < size; ++i) hash = (hash ^ data[i]) * 16777619u;
    return hash;
}

static void line(const char* name, uint64_t value) {
    serial_puts(name);
    serial_puts(": ");
    serial_put_hex(value);
    serial_puts("\n");
}

int linux_main(const uint8_t* bp);

int linux_main(const uint8_t* bp) {
    uint16_t cs;
    uint64_t cr0, cr3, cr4;
    uint32_t efer_low, efer_high;
    __asm__ volatile("mov %%cs, %0" : "=r"(cs));
    __asm__ volatile("mov %%cr0, %0" : "=r"(cr0));
    __asm__ volatile("mov %%cr3, %0" : "=r"(cr3));
    __asm__ volatile("mov %%cr4, %0" : "=r"(cr4));
    __asm__ volatile("rdmsr" : "=a"(efer_low), "=d"(efer_high) : "c"(0xc0000080u));
    uint64_t const efer = ((uint64_t)efer_high << 32) | efer_low;

    line("boot_params", (uint64_t)(uintptr_t)bp);
    line("cs", cs);
    line("cr3", cr3);
    serial_puts(cr0 & 0x80000000u ? "paging: on\n" : "paging: off\n");
    serial_puts(efer & 0x400 ? "long mode: active\n" : "long mode: inactive\n");
    serial_puts(cr4 & 0x20 ? "pae: on\n" : "pae: off\n");

    uint32_t const header = u32(bp, BP_HEADER);
    serial_puts("header: ");
    for (int i = 0; i < 4; ++i) serial_putc((char)(header >> (8 * i)));
    serial_puts("\n");
    line("boot_flag", u16(bp, BP_BOOT_FLAG));
    line("version", u16(bp, BP_VERSION));
    line("type_of_loader", u8(bp, BP_TYPE_OF_LOADER));
    line("loadflags", u8(bp, BP_LOADFLAGS));
    line("xloadflags", u16(bp, BP_XLOADFLAGS));

    uint64_t const cmdline =
        (uint64_t)u32(bp, BP_CMD_LINE_PTR) | ((uint64_t)u32(bp, BP_EXT_CMD_LINE_PTR) << 32);
    line("cmd_line_ptr", cmdline);
    serial_puts("cmdline: ");
    if (cmdline) serial_puts((const char*)(uintptr_t)cmdline);
    serial_puts("\n");

    uint8_t const entries = u8(bp, BP_E820_ENTRIES);
    serial_puts("e820_entries: ");
    serial_put_dec(entries);
    serial_puts("\n");
    for (unsigned i = 0; i < entries && i < 128; ++i) {
        unsigned const at = BP_E820_TABLE + 20 * i;
        serial_puts("e820: ");
        serial_put_hex(u64(bp, at));
        serial_puts(" ");
        serial_put_hex(u64(bp, at + 8));
        serial_puts(" ");
        serial_put_dec(u32(bp, at + 16));
        serial_puts("\n");
    }

    uint64_t const ramdisk =
        (uint64_t)u32(bp, BP_RAMDISK_IMAGE) | ((uint64_t)u32(bp, BP_EXT_RAMDISK_IMAGE) << 32);
    uint64_t const ramdisk_size = u32(bp, BP_RAMDISK_SIZE);
    serial_puts("ramdisk: ");
    serial_put_hex(ramdisk);
    serial_puts(" ");
    serial_put_hex(ramdisk_size);
    if (ramdisk_size) {
        serial_puts(" fnv1a ");
        serial_put_hex(fnv1a((const uint8_t*)(uintptr_t)ramdisk, ramdisk_size));
    }
    serial_puts("\n");

    int status = 0;
    if (header != 0x53726448u) status |= 1;
    if (entries == 0) status |= 2;
    if (cmdline == 0) status |= 4;
    if (cs != 0x10) status |= 8;
    if (!(efer & 0x400)) status |= 16;
    return status;
}
